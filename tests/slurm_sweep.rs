//! `scripts/slurm-sweep.sh`: the README's SLURM job-array recipe on a real single-node SLURM
//! (slurm-wlm and munge, installed with apt-get when missing; needs root). Four shards as a job
//! array, the merge as a dependent job, and the merged file compared byte for byte with the
//! unsharded run. `cargo test --release --test slurm_sweep -- --ignored`.

use std::path::Path;
use std::process::Command;

#[test]
#[ignore = "starts munged, slurmctld and slurmd (root): cargo test --release --test slurm_sweep -- --ignored"]
fn slurm_sweep_script_merges_to_the_unsharded_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/slurm-sweep.sh"))
        .current_dir(root)
        .env("ISOLSIM", env!("CARGO_BIN_EXE_isolsim"))
        .env_remove("WORKDIR")
        .output()
        .expect("runs bash");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}{stderr}", out.status);
    assert!(stdout.contains("slurm-sweep: merged file equals the unsharded run (12 units)"), "{stdout}{stderr}");
}
