//! Diagnostic: starts the EAL with the given arguments and lists the ports
//! it found (or prints why it could not start).
//!
//! ```text
//! cargo run -p cgnat-dpdk --example eal_probe -- --no-huge -m 512 --no-pci --vdev=net_tap0
//! ```
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match cgnat_dpdk::Eal::init(&args) {
        Ok(eal) => {
            println!("EAL up: {} lcores, TSC {} Hz", eal.lcore_count(), cgnat_dpdk::tsc_hz());
            for p in cgnat_dpdk::available_ports(&eal) {
                println!("port {} {} ({})", p.id, p.name, p.driver);
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
