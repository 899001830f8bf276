fn main() {
    for p in std::env::args().skip(1) {
        let src = std::fs::read_to_string(&p).unwrap();
        let r = synack_script::run_script(&src, &synack_script::RunConfig::default());
        match r.failure {
            None => println!("{p}: ok ({} events, {:?})", r.events_run, r.virtual_time),
            Some(f) => println!("{p}:{}: {}", f.pos, f.message),
        }
        for n in r.notes {
            println!("  note: {n}");
        }
    }
}
