//! `cgnatd`: the cgnat data plane daemon. See `cgnatd --help` and
//! [`cgnat_dpdk::daemon`].

fn main() {
    std::process::exit(cgnat_dpdk::daemon::main_with_args(std::env::args().skip(1)));
}
