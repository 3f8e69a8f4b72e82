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
fn a_sysfs_copy_gives_packages_cores_and_the_linux_numbers_of_each_core() {
    let d = tempfile::tempdir().unwrap();
    x86_sysfs(d.path());
    let m = import(d.path()).unwrap();
    let t = &m.topology;
    assert_eq!((t.sockets, t.clusters_per_socket, t.cores_per_cluster), (2, 1, 4));
    assert_eq!(m.threads_per_core, 2);
    assert_eq!(m.cluster_is, "package", "an L3 per package does not split it");
    assert_eq!(m.linux[0], [0, 8]);
    assert_eq!(m.linux[4], [4, 12]);
    assert!(!m.numbering_is_linux());
    assert_eq!(m.simulated_cpus(&[2, 3, 10, 11, 6, 7, 14, 15]), [2, 3, 6, 7]);

    // The command prints a section a configuration file takes, and the nohz_full= list mapped.
    let out = isolsim(&["topology", "--import", d.path().to_str().unwrap(), "--nohz-full", "2-3,6-7,10-11,14-15"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("# SMT threads are not simulated"), "{text}");
    assert!(text.contains("0: 0,8"), "{text}");
    assert!(text.contains("isolated = \"2-3,6-7\""), "{text}");
    let cfg = d.path().join("mine.toml");
    std::fs::write(&cfg, &text).unwrap();
    let tree = isolsim(&["topology", "--preset", "x86-server", "--config", cfg.to_str().unwrap()]);
    assert!(tree.status.success(), "{}", String::from_utf8_lossy(&tree.stderr));
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(tree.contains("2 package(s) × 1 cluster(s) × 4 core(s) = 8 cores"), "{tree}");
    assert!(tree.contains("CPU 2-3: isolated (nohz_full)") && tree.contains("CPU 6-7: isolated"), "{tree}");
}

#[test]
fn hwloc_xml_gives_the_clusters_and_keeps_linux_numbers_when_they_match() {
    let d = tempfile::tempdir().unwrap();
    let xml = d.path().join("lstopo.xml");
    std::fs::write(&xml, arm_hwloc()).unwrap();
    let m = import(&xml).unwrap();
    let t = &m.topology;
    assert_eq!((t.sockets, t.clusters_per_socket, t.cores_per_cluster), (1, 4, 2));
    assert_eq!(m.cluster_is, "group");
    assert_eq!(m.threads_per_core, 1);
    assert!(m.numbering_is_linux());
    let text = m.to_toml("lstopo.xml");
    assert!(text.contains("simulated CPU numbers are the Linux CPU numbers"), "{text}");
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
