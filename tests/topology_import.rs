//! `isolsim topology --import`: a real machine's shape from hwloc XML or a copy of
//! /sys/devices/system/cpu. The fixtures are written here, in the layouts those sources use.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::root;
use isolsim::topology::import::import;

fn isolsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_isolsim")).args(args).current_dir(root()).output().expect("runs")
}

/// A sysfs copy of an x86-like machine: 2 packages × 4 cores × 2 threads, Linux numbering the
/// first threads of package 0, then of package 1, then the second threads; the L3 is the package's.
fn x86_sysfs(dir: &Path) {
    for n in 0..16usize {
        let (pkg, core, thread) = ((n / 4) % 2, n % 4, n / 8);
        let sibling = if thread == 0 { n + 8 } else { n - 8 };
        let (a, b) = (n.min(sibling), n.max(sibling));
        let topo = dir.join(format!("cpu{n}/topology"));
        std::fs::create_dir_all(&topo).unwrap();
        let w = |f: &str, v: String| std::fs::write(topo.join(f), v + "\n").unwrap();
        w("physical_package_id", pkg.to_string());
        w("core_id", core.to_string());
        w("core_cpus_list", format!("{a},{b}"));
        w("cluster_cpus_list", format!("{a},{b}"));
        w("die_cpus_list", format!("{}-{},{}-{}", 4 * pkg, 4 * pkg + 3, 8 + 4 * pkg, 8 + 4 * pkg + 3));
        for (k, level, shared) in [
            (0, 1, format!("{a},{b}")),
            (2, 2, format!("{a},{b}")),
            (3, 3, format!("{}-{},{}-{}", 4 * pkg, 4 * pkg + 3, 8 + 4 * pkg, 8 + 4 * pkg + 3)),
        ] {
            let index = dir.join(format!("cpu{n}/cache/index{k}"));
            std::fs::create_dir_all(&index).unwrap();
            std::fs::write(index.join("level"), format!("{level}\n")).unwrap();
            std::fs::write(index.join("shared_cpu_list"), format!("{shared}\n")).unwrap();
        }
    }
    // Files sysfs also has that are not CPUs.
    std::fs::create_dir_all(dir.join("cpufreq")).unwrap();
    std::fs::write(dir.join("online"), "0-15\n").unwrap();
}

/// hwloc 2.x XML of an arm64-like machine: 1 package, one L3, 4 clusters (hwloc Groups, each
/// with its L2) of 2 cores, one thread each, numbered in order.
fn arm_hwloc() -> String {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE topology SYSTEM \"hwloc2.dtd\">\n\
         <topology version=\"2.0\">\n <object type=\"Machine\" os_index=\"0\" cpuset=\"0xff\">\n  \
         <object type=\"Package\" os_index=\"0\">\n   <object type=\"L3Cache\" cache_size=\"33554432\" depth=\"3\">\n",
    );
    for g in 0..4 {
        x += "    <object type=\"Group\" subtype=\"Cluster\">\n     <object type=\"L2Cache\" depth=\"2\">\n";
        for c in 0..2 {
            let n = 2 * g + c;
            x += &format!(
                "      <object type=\"L1dCache\" depth=\"1\"><object type=\"Core\" os_index=\"{n}\">\
                 <object type=\"PU\" os_index=\"{n}\"/></object></object>\n"
            );
        }
        x += "     </object>\n    </object>\n";
    }
    x + "   </object>\n  </object>\n </object>\n</topology>\n"
}

#[test]
fn a_sysfs_copy_gives_smt_threads_as_cpus_with_the_linux_numbers() {
    let d = tempfile::tempdir().unwrap();
    x86_sysfs(d.path());
    let m = import(d.path()).unwrap();
    let t = &m.topology;
    assert_eq!((t.sockets, t.clusters_per_socket, t.cores_per_cluster, t.threads_per_core), (2, 1, 4, 2));
    assert_eq!(m.cluster_is, "package", "an L3 per package does not split it");
    // Topology order is package, core, thread; Linux numbers the second threads 8-15.
    assert_eq!(t.linux_cpus, [0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15]);
    let topo = isolsim::cpu_model::topology::Topology::new(t).unwrap();
    assert_eq!(topo.threads_of(12), [4, 12]);
    assert_eq!(topo.socket_of(12), 1);

    // The command prints a section a configuration file takes, and the nohz_full= list as is.
    let out = isolsim(&["topology", "--import", d.path().to_str().unwrap(), "--nohz-full", "2-3,6-7,10-11,14-15"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("threads_per_core = 2"), "{text}");
    assert!(text.contains("linux_cpus = [0, 8, 1, 9,"), "{text}");
    assert!(text.contains("cpus = 16\nisolated = \"2-3,6-7,10-11,14-15\""), "{text}");
    let cfg = d.path().join("mine.toml");
    std::fs::write(&cfg, &text).unwrap();
    let tree = isolsim(&["topology", "--preset", "x86-server", "--config", cfg.to_str().unwrap()]);
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(tree.contains("2 package(s) × 1 cluster(s) × 4 core(s) × 2 threads = 16 CPUs"), "{tree}");
    // Package 0 holds CPUs 0-3 and their siblings 8-11; 2,10 and 3,11 are isolated.
    assert!(tree.contains("CPU 2-3,10-11: isolated (nohz_full)"), "{tree}");
    assert!(tree.contains("CPU 6-7,14-15: isolated (nohz_full)"), "{tree}");
    assert!(tree.contains("SMT cores (their CPUs): 0,8  1,9  2,10  3,11"), "{tree}");
    assert!(tree.contains("SMT sibling"), "{tree}");
}

#[test]
fn a_configuration_names_the_machine_file_and_runs_on_it() {
    let d = tempfile::tempdir().unwrap();
    x86_sysfs(&d.path().join("sys"));
    // The file is found next to the configuration, whatever the current folder.
    std::fs::write(
        d.path().join("mine.toml"),
        "[machine.topology]\nfile = \"sys\"\n[run]\ncpus = 16\nisolated = \"6-7,14-15\"\nduration_us = 200\n",
    )
    .unwrap();
    let cfg = d.path().join("mine.toml");
    let tree = isolsim(&["topology", "--preset", "x86-server", "--config", cfg.to_str().unwrap()]);
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(tree.contains("read from sys; CPU numbers are the machine's Linux numbers"), "{tree}");
    assert!(tree.contains("CPU 6-7,14-15: isolated (nohz_full)"), "{tree}");

    // The run reports the isolated CPUs by their Linux numbers.
    let run = isolsim(&[
        "run",
        "--preset",
        "x86-server",
        "--config",
        cfg.to_str().unwrap(),
        "--protocol",
        "deferred",
        "--json",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let json: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let topo = &json["config"]["machine"]["topology"];
    assert_eq!(topo["threads_per_core"], 2, "{topo}");
    assert_eq!(topo["linux_cpus"][1], 8, "{topo}");
    let text = run.stdout.clone();
    let report = String::from_utf8(text).unwrap();
    assert!(report.contains("6-7,14-15"), "the run names the isolated CPUs as Linux does");

    // The dumped configuration (file and shape) reads back to the same machine.
    let dump = isolsim(&["config", "--preset", "x86-server", "--config", cfg.to_str().unwrap()]);
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let dumped = d.path().join("dumped.toml");
    std::fs::write(&dumped, &dump.stdout).unwrap();
    let again = isolsim(&["topology", "--preset", "x86-server", "--config", dumped.to_str().unwrap()]);
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));

    // A shape key that disagrees with the file is refused where it is written.
    std::fs::write(d.path().join("clash.toml"), "[machine.topology]\nfile = \"sys\"\nsockets = 1\n").unwrap();
    let clash = d.path().join("clash.toml");
    let out = isolsim(&["topology", "--config", clash.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("clash.toml:3:") && err.contains("the file gives the shape"), "{err}");

    // A file that is not there, or not a machine, is an error at the key.
    std::fs::write(d.path().join("gone.toml"), "[machine.topology]\nfile = \"nowhere.xml\"\n").unwrap();
    let gone = d.path().join("gone.toml");
    let out = isolsim(&["topology", "--config", gone.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gone.toml:2:8") && err.contains("nowhere.xml"), "{err}");
}

#[test]
fn hwloc_xml_gives_the_clusters_and_keeps_linux_numbers_when_they_match() {
    let d = tempfile::tempdir().unwrap();
    let xml = d.path().join("lstopo.xml");
    std::fs::write(&xml, arm_hwloc()).unwrap();
    let m = import(&xml).unwrap();
    let t = &m.topology;
    assert_eq!((t.sockets, t.clusters_per_socket, t.cores_per_cluster, t.threads_per_core), (1, 4, 2, 1));
    assert_eq!(m.cluster_is, "group");
    assert!(t.linux_cpus.is_empty(), "topology order is Linux's order: no table");
    let text = m.to_toml("lstopo.xml");
    assert!(text.contains("CPU numbers are the Linux CPU numbers"), "{text}");
    assert!(!text.contains("linux_cpus"), "{text}");
    let parsed: toml::Table = text.parse().unwrap();
    assert_eq!(parsed["machine"]["topology"]["clusters_per_socket"].as_integer(), Some(4));
}

#[test]
fn machines_the_simulator_cannot_describe_and_bad_files_are_refused() {
    let d = tempfile::tempdir().unwrap();
    // A package of 4 cores next to one of 2.
    let irregular = arm_hwloc().replacen(
        "  </object>\n </object>\n</topology>",
        "  </object>\n  <object type=\"Package\" os_index=\"1\"><object type=\"Core\" os_index=\"8\">\
         <object type=\"PU\" os_index=\"8\"/></object></object>\n </object>\n</topology>",
        1,
    );
    for (name, text, want) in [
        ("irregular.xml", irregular.as_str(), "not a regular machine"),
        (
            "broken.xml",
            "<topology>\n<object type=\"PU\" os_index=\"0\">\n</topology>\n",
            "broken.xml:3:1: not hwloc XML",
        ),
        ("other.xml", "<svg/>", "the root element is not <topology>"),
        ("empty.xml", "<topology/>", "no PU objects"),
    ] {
        let path = d.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = isolsim(&["topology", "--import", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{name}: {err}");
        assert!(out.stdout.is_empty());
    }
    let empty = d.path().join("not-sysfs");
    std::fs::create_dir(&empty).unwrap();
    let out = isolsim(&["topology", "--import", empty.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cpuN directories"));
    let sys = d.path().join("sys");
    x86_sysfs(&sys);
    let out = isolsim(&["topology", "--import", sys.to_str().unwrap(), "--nohz-full", "4-40"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("CPU 16 is not in"));
}

#[test]
fn a_sweep_compares_machines_by_their_files() {
    let d = tempfile::tempdir().unwrap();
    x86_sysfs(&d.path().join("x86"));
    std::fs::write(d.path().join("arm.xml"), arm_hwloc()).unwrap();
    std::fs::write(
        d.path().join("machines.toml"),
        "[sweep]\nprotocols = [\"deferred\"]\n[set]\nrun.cpus = 8\nrun.isolated = \"6-7\"\nrun.duration_us = 300\n\
         [grid]\nmachine.topology.file = [\"x86\", \"arm.xml\"]\n",
    )
    .unwrap();
    // Run from another folder: the files are found next to the sweep file.
    let sweep = d.path().join("machines.toml");
    let out_file = d.path().join("out.jsonl");
    let out = isolsim(&["sweep", sweep.to_str().unwrap(), "--jobs", "1", "--out", out_file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&out_file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    let shape = |v: &serde_json::Value| {
        let t = &v["config"]["machine"]["topology"];
        (t["sockets"].as_u64(), t["clusters_per_socket"].as_u64(), t["threads_per_core"].as_u64())
    };
    assert_eq!(shape(&lines[0]), (Some(2), Some(1), Some(2)), "{}", lines[0]["config"]["machine"]["topology"]);
    assert_eq!(shape(&lines[1]), (Some(1), Some(4), Some(1)));

    // A sweep naming a file that is not there says so where it names it.
    std::fs::write(
        d.path().join("bad.toml"),
        "[sweep]\n[set]\nrun.cpus = 8\nrun.isolated = 2\n[grid]\nmachine.topology.file = [\"x86\", \"gone.xml\"]\n",
    )
    .unwrap();
    let bad = d.path().join("bad.toml");
    let out = isolsim(&["sweep", bad.to_str().unwrap(), "--out", d.path().join("b.jsonl").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:6:") && err.contains("gone.xml"), "{err}");
}
