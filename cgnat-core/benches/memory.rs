//! Memory per session: resident bytes added by filling the tables, per live
//! session. `cargo bench -p cgnat-core --bench memory` (prints a table;
//! `CGNAT_BENCH_SMALL=1` measures only 1 Mi sessions).

mod fixture;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut cases = vec![(4096u32, 256u32)];
    if std::env::var_os("CGNAT_BENCH_SMALL").is_none() {
        cases.push((65_536, 256));
    }
    println!("| sessions | table bytes (reserved) | RSS added | bytes/session (RSS) | bytes/session (tables) |");
    println!("|---:|---:|---:|---:|---:|");
    for (subs, flows) in cases {
        let before = fixture::rss_bytes();
        let f = fixture::fill(subs, flows);
        // The fixture also holds two packet templates per flow: subtract them.
        let templates = (f.outbound.capacity() + f.inbound.capacity()) as u64 * fixture::PACKET_LEN as u64;
        let after = fixture::rss_bytes();
        let n = (subs * flows) as u64;
        let tables = f.nat.sessions().memory_bytes() + f.nat.mappings().memory_bytes() + f.nat.subscribers().memory_bytes();
        let added = after.saturating_sub(before).saturating_sub(templates);
        println!(
            "| {n} | {} | {} | {:.1} | {:.1} |",
            f.nat.memory_bytes(),
            added,
            added as f64 / n as f64,
            tables as f64 / n as f64
        );
        drop(f);
    }
}
