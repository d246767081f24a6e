//! Which threads take the TAP PMD's receive signals.
//!
//! DPDK's TAP PMD opens its queues with `O_ASYNC`, `F_SETOWN` to the
//! process and `F_SETSIG` (DPDK 22.11: a real-time signal, 35 with glibc;
//! older releases SIGIO): the kernel queues a signal for every frame that
//! arrives on a TAP queue, and the PMD's handler bumps a counter that
//! `rx_burst` checks before it reads. The kernel gives a process-directed
//! signal to the main thread first if that thread does not block it. In
//! `cgnatd` the main thread is the management thread, which sleeps between
//! ticks: under a flood each `nanosleep` is interrupted at once and
//! restarted with its full time, so the thread never wakes for its tick. The NAT log is then not pumped and
//! new blocks, whose first packets wait for their records (durable before
//! use), are blackholed for as long as the flood lasts (measured: 37–41 s
//! of the side-by-side blast on TAP ports).
//!
//! The management thread and every thread it spawns (log writers,
//! control and metrics servers) therefore block SIGIO and the real-time
//! signals, and so does every data-plane lcore when its loop starts (a
//! signal handler run on a worker costs packet time). DPDK's interrupt
//! thread (`eal-intr-thread`, started by the EAL before any of these
//! blocks) is left to take them: it sleeps in `epoll_wait`, which simply
//! restarts, and the PMD's counter it bumps is all `rx_burst` needs. Were
//! no thread to take them, TAP receive would stop, which every TAP test
//! would show at once. Measured with `tests/tap_flood_log.rs`: 64 block
//! records on disk 0.1 s into a 10 s flood (before: none until it
//! ended), and the side-by-side TAP run went from 100 % loss to none at
//! the generator's rate.

use std::io;

/// The signals a notification-driven PMD may raise: SIGIO and every
/// real-time signal (`SIGRTMIN..=SIGRTMAX`; cgnatd's own threads use none).
fn rx_signal_set() -> libc::sigset_t {
    // SAFETY: initialises and fills a local signal set.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGIO);
        for s in libc::SIGRTMIN()..=libc::SIGRTMAX() {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Blocks SIGIO and the real-time signals in the calling thread; threads it spawns afterwards
/// inherit the mask. Call after the EAL started its lcores (they must keep
/// taking the TAP PMD's signal) and before the management threads start.
pub fn block_rx_signals_in_this_thread() -> io::Result<()> {
    let set = rx_signal_set();
    // SAFETY: `set` is an initialised signal set; no old mask is read.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}

/// Whether the calling thread blocks SIGIO and every real-time signal.
pub fn rx_signals_blocked_in_this_thread() -> bool {
    // SAFETY: reads the calling thread's mask into a local set.
    unsafe {
        let mut cur: libc::sigset_t = std::mem::zeroed();
        if libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut cur) != 0 {
            return false;
        }
        std::iter::once(libc::SIGIO)
            .chain(libc::SIGRTMIN()..=libc::SIGRTMAX())
            .all(|s| libc::sigismember(&cur, s) == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_spawned_after_blocking_inherits_the_mask_and_others_do_not() {
        let before = std::thread::spawn(rx_signals_blocked_in_this_thread).join().unwrap();
        assert!(!before, "a fresh thread takes SIGIO");
        let inherited = std::thread::spawn(|| {
            block_rx_signals_in_this_thread().unwrap();
            let blocked = rx_signals_blocked_in_this_thread();
            let child = std::thread::spawn(rx_signals_blocked_in_this_thread).join().unwrap();
            (blocked, child)
        })
        .join()
        .unwrap();
        assert_eq!(inherited, (true, true));
    }
}
