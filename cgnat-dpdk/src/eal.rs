//! The DPDK Environment Abstraction Layer: initialisation, cleanup, lcores.
//!
//! [`Eal`] is the runtime handle (capsule's "runtime owns the EAL and the
//! lcores"): created once per process by [`Eal::init`], it launches closures
//! on worker lcores and waits for them. Objects that live in DPDK memory
//! ([`Mempool`](crate::Mempool), [`Port`](crate::Port),
//! [`Ring`](crate::ring)) keep the EAL alive through an internal token, so
//! `rte_eal_cleanup` runs only after the last of them is gone.

use std::ffi::{c_char, c_int, c_void, CString};
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{cstring, rte_errno, strerror, DpdkError};
use crate::ffi;

/// Set by the first call to [`Eal::init`]; never cleared (DPDK cannot be
/// initialised twice in a process, not even after `rte_eal_cleanup`).
static EAL_INIT_CALLED: AtomicBool = AtomicBool::new(false);

/// Return value of a launched closure that panicked (see [`Eal::launch_on`]).
pub const LAUNCH_PANICKED: i32 = i32::MIN;

/// The program name given to the EAL as `argv[0]`.
const PROGRAM_NAME: &str = "cgnat";

/// Keeps the EAL initialised; `rte_eal_cleanup` runs when the last clone is
/// dropped. Every object that lives in DPDK memory holds one.
#[derive(Clone)]
pub(crate) struct EalToken(#[allow(dead_code)] Arc<EalCleanup>);

struct EalCleanup;

impl Drop for EalCleanup {
    fn drop(&mut self) {
        // SAFETY: the EAL was initialised (an EalToken exists only after a
        // successful rte_eal_init) and every object that used DPDK memory
        // held a token, so none is left.
        unsafe {
            ffi::rte_eal_cleanup();
        }
    }
}

/// The initialised DPDK EAL (one per process).
///
/// Not `Send`: lcore launching and waiting must happen on the thread that
/// initialised the EAL (the main lcore). Dropping it waits for all worker
/// lcores and then, once no mempool/port/ring is left, runs
/// `rte_eal_cleanup`.
pub struct Eal {
    token: EalToken,
    _main_lcore_only: PhantomData<*const ()>,
}

impl Eal {
    /// Initialises DPDK with EAL arguments (`rte_eal_init`).
    ///
    /// `args` are EAL options only, without a program name (`"cgnat"` is
    /// passed as `argv[0]`), e.g. `["--no-huge", "-m", "512", "--no-pci",
    /// "--vdev=net_ring0"]`. Succeeds at most once per process; a second call
    /// returns [`DpdkError::EalAlreadyInitialized`], even after a failure.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal, DpdkError> {
        if EAL_INIT_CALLED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::EalAlreadyInitialized);
        }
        let mut owned: Vec<CString> = Vec::with_capacity(args.len() + 1);
        owned.push(cstring("program name", PROGRAM_NAME)?);
        for a in args {
            owned.push(cstring("EAL argument", a.as_ref())?);
        }
        // The EAL may keep pointers into argv (and permutes the array), so
        // the strings and the array live for the rest of the process. This
        // is a one-time, few-hundred-byte leak.
        let owned: &'static [CString] = Box::leak(owned.into_boxed_slice());
        let argv: &'static mut [*mut c_char] = Box::leak(
            owned
                .iter()
                .map(|s| s.as_ptr().cast_mut())
                .chain(std::iter::once(std::ptr::null_mut()))
                .collect::<Vec<_>>()
                .into_boxed_slice(),
        );
        let argc = c_int::try_from(owned.len()).expect("EAL argument count fits in c_int");
        // SAFETY: argv holds argc valid NUL-terminated strings followed by a
        // NULL, all 'static; this is the first and only rte_eal_init call of
        // the process (guarded by EAL_INIT_CALLED).
        let ret = unsafe { ffi::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            let errno = rte_errno();
            let joined = args.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
            return Err(DpdkError::EalInit {
                errno,
                reason: strerror(errno),
                hint: init_hint(errno, &joined),
            });
        }
        Ok(Eal {
            token: EalToken(Arc::new(EalCleanup)),
            _main_lcore_only: PhantomData,
        })
    }

    /// Whether [`Eal::init`] has been called in this process.
    pub fn init_called() -> bool {
        EAL_INIT_CALLED.load(Ordering::SeqCst)
    }

    pub(crate) fn token(&self) -> EalToken {
        self.token.clone()
    }

    /// The id of the main lcore (the thread that called [`Eal::init`]).
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL initialised; reads configuration.
        unsafe { ffi::rte_get_main_lcore() }
    }

    /// Number of enabled lcores, main included.
    pub fn lcore_count(&self) -> u32 {
        // SAFETY: EAL initialised; reads configuration.
        unsafe { ffi::rte_lcore_count() }
    }

    /// Ids of the enabled worker lcores (every enabled lcore but the main one),
    /// ascending.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut i = u32::MAX; // "-1": rte_get_next_lcore starts after it
        loop {
            // SAFETY: EAL initialised; pure lookup in the lcore table.
            i = unsafe { ffi::rte_get_next_lcore(i, 1, 0) };
            if i >= ffi::RTE_MAX_LCORE {
                return out;
            }
            out.push(i);
        }
    }

    /// NUMA socket of an lcore (`rte_lcore_to_socket_id`).
    pub fn lcore_socket(&self, lcore: u32) -> Option<u32> {
        if lcore >= ffi::RTE_MAX_LCORE {
            return None;
        }
        // SAFETY: index checked against RTE_MAX_LCORE.
        Some(unsafe { ffi::rte_lcore_to_socket_id(lcore) })
    }

    /// Runs `f` on worker lcore `lcore` (`rte_eal_remote_launch`).
    ///
    /// The lcore must be an enabled worker that is idle. The closure's return
    /// value is collected by [`Eal::wait`]; a panic inside it is caught (it
    /// must not unwind into C) and reported as [`LAUNCH_PANICKED`].
    pub fn launch_on<F>(&self, lcore: u32, f: F) -> Result<(), DpdkError>
    where
        F: FnOnce() -> i32 + Send + 'static,
    {
        if lcore >= ffi::RTE_MAX_LCORE || lcore == self.main_lcore() || !lcore_enabled(lcore) {
            return Err(DpdkError::Lcore {
                lcore,
                why: "not an enabled worker lcore",
            });
        }
        // SAFETY: lcore < RTE_MAX_LCORE.
        if unsafe { ffi::rte_eal_get_lcore_state(lcore) } != ffi::rte_lcore_state_t_WAIT {
            return Err(DpdkError::Lcore {
                lcore,
                why: "busy (still running a launched function; call wait first)",
            });
        }
        let boxed: Box<Box<dyn FnOnce() -> i32 + Send>> = Box::new(Box::new(f));
        let arg = Box::into_raw(boxed).cast::<c_void>();
        // SAFETY: `launch_trampoline` takes ownership of `arg` (a leaked
        // Box<Box<dyn FnOnce>>) exactly once when it runs on the worker.
        // We are on the main lcore (Eal is !Send).
        let ret = unsafe { ffi::rte_eal_remote_launch(Some(launch_trampoline), arg, lcore) };
        if ret < 0 {
            // SAFETY: the launch failed, so the trampoline will never run and
            // the box is still ours to free.
            drop(unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() -> i32 + Send>>()) });
            return Err(DpdkError::from_errno(format!("rte_eal_remote_launch(lcore {lcore})"), ret));
        }
        Ok(())
    }

    /// Waits until worker `lcore` has finished its launched function and
    /// returns its return value (0 if nothing was launched).
    pub fn wait(&self, lcore: u32) -> i32 {
        if lcore >= ffi::RTE_MAX_LCORE || lcore == self.main_lcore() {
            return 0;
        }
        // SAFETY: called on the main lcore for a valid worker id.
        unsafe { ffi::rte_eal_wait_lcore(lcore) }
    }

    /// Waits for every worker lcore to finish (`rte_eal_mp_wait_lcore`).
    pub fn wait_all(&self) {
        // SAFETY: called on the main lcore (Eal is !Send).
        unsafe { ffi::rte_eal_mp_wait_lcore() }
    }

    /// Creates a device at run time from a devargs string (`rte_dev_probe`),
    /// e.g. `"net_ring1"` or `"net_pcap1,rx_pcap=in.pcap"`; same syntax as
    /// `--vdev`.
    pub fn probe_device(&self, devargs: &str) -> Result<(), DpdkError> {
        let c = cstring("devargs", devargs)?;
        // SAFETY: valid C string; EAL initialised; control-path call.
        let ret = unsafe { ffi::rte_dev_probe(c.as_ptr()) };
        crate::error::check(|| format!("rte_dev_probe({devargs:?})"), ret)
    }
}

impl Drop for Eal {
    fn drop(&mut self) {
        // Workers may still run closures that use DPDK objects.
        self.wait_all();
        // `self.token` is dropped next; cleanup runs if it was the last one.
    }
}

fn lcore_enabled(lcore: u32) -> bool {
    // SAFETY: pure lookup, bounds-checked by DPDK.
    unsafe { ffi::rte_lcore_is_enabled(lcore) != 0 }
}

unsafe extern "C" fn launch_trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` is the Box<Box<dyn FnOnce>> leaked by `launch_on`,
    // handed to exactly one trampoline call.
    let f = unsafe { Box::from_raw(arg.cast::<Box<dyn FnOnce() -> i32 + Send>>()) };
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(LAUNCH_PANICKED)
}

/// The current thread's lcore id, or `None` on a thread that is not an EAL
/// lcore (`rte_lcore_id() == LCORE_ID_ANY`).
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads a thread-local; no preconditions.
    let id = unsafe { ffi::cgnat_lcore_id() };
    (id < ffi::RTE_MAX_LCORE).then_some(id)
}

/// TSC frequency in Hz, as calibrated by the EAL (0 before [`Eal::init`]).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a global set during EAL init.
    unsafe { ffi::cgnat_get_tsc_hz() }
}

/// Current TSC cycle counter (`rte_get_tsc_cycles`, i.e. `rdtsc`).
#[inline]
pub fn tsc_cycles() -> u64 {
    // SAFETY: reads the CPU cycle counter.
    unsafe { ffi::cgnat_get_tsc_cycles() }
}

/// The effective user id of this process, from `/proc/self/status`.
pub(crate) fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// A hint for the usual causes of an `rte_eal_init` failure.
fn init_hint(errno: i32, args: &str) -> String {
    let mut hints: Vec<String> = Vec::new();
    if let Some(uid) = effective_uid().filter(|&u| u != 0) {
        hints.push(format!(
            "running as uid {uid}: DPDK needs root (or CAP_SYS_ADMIN, CAP_IPC_LOCK, CAP_NET_ADMIN)"
        ));
    }
    let no_huge = !args.contains("--no-huge");
    match errno {
        libc_errno::EACCES | libc_errno::ENOMEM if no_huge => hints.push(
            "no usable hugepages: reserve some (echo 256 > \
             /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages) or pass --no-huge -m 512"
                .into(),
        ),
        libc_errno::ENOMEM => hints.push("not enough memory: raise -m or free memory".into()),
        libc_errno::EINVAL => hints.push(format!("invalid EAL arguments: {args:?}")),
        libc_errno::ENODEV => hints.push(
            "a --vdev/-a device could not be parsed (unknown driver name? known here: \
             net_tap, net_pcap, net_ring, net_null, net_af_packet) or there is no usable PCI \
             bus (pass --no-pci when there is no NIC)"
                .into(),
        ),
        libc_errno::EPROTO => hints.push("no usable PCI bus: pass --no-pci when there is no NIC".into()),
        libc_errno::EFAULT | libc_errno::EALREADY => hints.push(
            "another DPDK primary process may be running: use --in-memory or a distinct \
             --file-prefix"
                .into(),
        ),
        libc_errno::ENOTSUP => hints.push(
            "a bus probe failed or the CPU lacks the ISA DPDK was built for; see the EAL log \
             above"
                .into(),
        ),
        _ => {}
    }
    if hints.is_empty() {
        String::new()
    } else {
        format!("; {}", hints.join("; "))
    }
}

/// The errno values `rte_eal_init` documents (Linux numbering).
mod libc_errno {
    pub const ENOMEM: i32 = 12;
    pub const EACCES: i32 = 13;
    pub const EFAULT: i32 = 14;
    pub const ENODEV: i32 = 19;
    pub const EINVAL: i32 = 22;
    pub const EPROTO: i32 = 71;
    pub const ENOTSUP: i32 = 95;
    pub const EALREADY: i32 = 114;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_suggest_no_huge() {
        let h = init_hint(libc_errno::ENOMEM, "--no-pci");
        assert!(h.contains("--no-huge -m 512"), "{h}");
        let h = init_hint(libc_errno::EPROTO, "--no-huge");
        assert!(h.contains("--no-pci"), "{h}");
        let h = init_hint(libc_errno::ENODEV, "--no-huge --vdev=net_nosuch0");
        assert!(h.contains("--vdev"), "{h}");
    }

    #[test]
    fn no_lcore_outside_eal() {
        assert_eq!(current_lcore(), None);
    }
}
