#[test]
fn dump() {
    let seed: u64 = std::env::var("SEED").unwrap().parse().unwrap();
    let n: u64 = std::env::var("N").unwrap().parse().unwrap();
    let model: isolsim::Mode = std::env::var("MODEL").unwrap().parse().unwrap();
    for i in 0..n {
        let c = isolsim::difftest::generated(seed, i, model);
        let t = if model == isolsim::Mode::Arm { c.text() } else { isolsim::litmus::x86::translate(&c.test).map(|t| t.text).unwrap_or_else(|e| e.to_string()) };
        std::fs::write(format!("/tmp/dt/gen/G{i}{}.litmus", if c.fetches() { "f" } else { "" }), t).unwrap();
        if model != isolsim::Mode::Arm { std::fs::write(format!("/tmp/dt/gen/G{i}.a64"), c.text()).unwrap(); }
    }
}
