//! Where an audit's time goes: `cargo run -p stockade-audit --example phases -- LOCK DB`
//! prints the wall time of each phase (bench/audit.py times the whole command).

use std::path::Path;
use std::time::Instant;

use stockade_audit::report::{render, Format};
use stockade_audit::{audit, Database, Date, Inventory, Level};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [lock, db] = args.as_slice() else {
        return Err("usage: phases LOCK DB".into());
    };
    let t = Instant::now();
    let mut inventory = Inventory::default();
    inventory.read(Path::new(lock))?;
    let read = t.elapsed();
    let t = Instant::now();
    let db = Database::open_for(Path::new(db), &inventory.names())?;
    let load = t.elapsed();
    let t = Instant::now();
    let report = audit(&inventory, &db, &[], Date::today());
    let matched = t.elapsed();
    let t = Instant::now();
    let json = render(&report, Format::Json, Level::Low);
    let rendered = t.elapsed();
    println!(
        "read {} dependencies: {:.1} ms; load {} of {} records: {:.1} ms; match: {:.1} ms ({} findings); JSON ({} bytes): {:.1} ms",
        inventory.dependencies.len(),
        read.as_secs_f64() * 1e3,
        db.len(),
        db.total(),
        load.as_secs_f64() * 1e3,
        matched.as_secs_f64() * 1e3,
        report.findings.len(),
        json.len(),
        rendered.as_secs_f64() * 1e3,
    );
    Ok(())
}
