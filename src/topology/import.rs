//! `isolsim topology --import PATH`: the shape of a real machine, from `lstopo --of xml`'s hwloc
//! XML or from a copy of `/sys/devices/system/cpu`, as the `[machine.topology]` section that
//! describes it.
//!
//! Both sources give, for every Linux CPU (hwloc's PU), its package, its core, and the groups
//! between them. The simulated topology is regular: packages × clusters × cores. A cluster is
//! the first grouping below the package that splits it into several groups of several cores, in
//! this order: the kernel's cluster (`cluster_cpus_list`, hwloc's `Cluster`), the L3 cache, the
//! die, an hwloc `Group`, the L2 cache; a package without one is one cluster. Each Linux CPU is a
//! simulated CPU of the same number: SMT threads are CPUs of their core (`threads_per_core`), and
//! where Linux's numbering is not topology order (x86 numbers every first thread before any
//! second one) `linux_cpus` says where each number sits.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::Path;
use std::rc::Rc;

use cpu_model::topology::TopologyConfig;
use workloads::experiment::{MAX_LISTED_CPU, parse_cpulist};

/// One Linux CPU and where it sits.
#[derive(Clone, Debug)]
struct Pu {
    linux: usize,
    package: u64,
    /// Its core's CPUs (the SMT siblings), as a key (shared by the core's CPUs: a file with
    /// thousands of CPUs in one object must not cost memory quadratic in them).
    core: Rc<Vec<usize>>,
    /// For each grouping candidate, the CPUs of its group (None: the source does not say).
    groups: [Option<Rc<Vec<usize>>>; GROUPINGS.len()],
}

/// Groupings a cluster may be, in the order they are tried.
const GROUPINGS: [&str; 5] = ["cluster", "L3 cache", "die", "group", "L2 cache"];

/// A machine read from a file.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// The shape and numbering (latencies at their defaults, `file` empty).
    pub topology: TopologyConfig,
    /// What the clusters are (`"cluster"`, `"L3 cache"`, …; `"package"` if not split).
    pub cluster_is: String,
}

/// Why a machine could not be imported.
#[derive(Debug, thiserror::Error)]
#[error("{path}{}: {message}", pos.map_or(String::new(), |(l, c)| format!(":{l}:{c}")))]
pub struct ImportError {
    path: String,
    /// Line and column, for an XML syntax error.
    pos: Option<(usize, usize)>,
    message: String,
}

/// Reads `path`: an hwloc XML file, or a directory holding `cpuN/topology/`.
pub fn import(path: &Path) -> Result<Imported, ImportError> {
    let err = |(pos, message): Located| ImportError { path: path.display().to_string(), pos, message };
    let plain = |message: String| (None, message);
    let pus = if path.is_dir() {
        read_sysfs(path).map_err(plain).map_err(err)?
    } else {
        let text = workloads::input::read_text_at_most(path, 64 << 20).map_err(|e| ImportError {
            path: e.path,
            pos: e.pos,
            message: e.message,
        })?;
        read_hwloc(&text).map_err(err)?
    };
    shape(pus).map_err(plain).map_err(err)
}

fn read_sysfs(dir: &Path) -> Result<Vec<Pu>, String> {
    let mut cpus: Vec<usize> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read ({e})"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    cpus.sort_unstable();
    if cpus.is_empty() {
        return Err("no cpuN directories: expected a copy of /sys/devices/system/cpu".into());
    }
    // Each CPU lists its groups; one copy of each distinct list is kept.
    let mut seen: HashMap<Vec<usize>, Rc<Vec<usize>>> = HashMap::new();
    let mut intern = |v: Vec<usize>| seen.entry(v.clone()).or_insert_with(|| Rc::new(v)).clone();
    let mut pus = vec![];
    for n in cpus {
        let cpu = dir.join(format!("cpu{n}"));
        let topo = cpu.join("topology");
        if !topo.is_dir() {
            continue; // an offline CPU has no topology
        }
        let read = |p: &Path| std::fs::read_to_string(p).ok().map(|s| s.trim().to_string());
        let package: u64 = read(&topo.join("physical_package_id"))
            .ok_or_else(|| format!("cpu{n}/topology/physical_package_id is missing"))?
            .parse()
            .map_err(|_| format!("cpu{n}/topology/physical_package_id is not a number"))?;
        let list = |file: &str| -> Result<Option<Vec<usize>>, String> {
            match read(&topo.join(file)) {
                Some(s) => parse_cpulist(&s).map(Some).map_err(|e| format!("cpu{n}/topology/{file}: {e}")),
                None => Ok(None),
            }
        };
        let core = list("core_cpus_list")?
            .or(list("thread_siblings_list")?)
            .ok_or_else(|| format!("cpu{n}/topology: neither core_cpus_list nor thread_siblings_list"))?;
        // Caches by level: the last index of each level (data and unified share a level).
        let mut cache: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for k in 0..16 {
            let index = cpu.join(format!("cache/index{k}"));
            let (Some(level), Some(shared)) = (read(&index.join("level")), read(&index.join("shared_cpu_list"))) else {
                continue;
            };
            let level: u32 = level.parse().map_err(|_| format!("cpu{n}/cache/index{k}/level is not a number"))?;
            cache.insert(
                level,
                parse_cpulist(&shared).map_err(|e| format!("cpu{n}/cache/index{k}/shared_cpu_list: {e}"))?,
            );
        }
        let groups =
            [list("cluster_cpus_list")?, cache.get(&3).cloned(), list("die_cpus_list")?, None, cache.get(&2).cloned()]
                .map(|g| g.map(&mut intern));
        pus.push(Pu { linux: n, package, core: intern(core), groups });
    }
    Ok(pus)
}

/// A set of Linux CPUs, shared by the CPUs it groups.
type CpuSet = Rc<Vec<usize>>;

/// A message, with the line and column of an XML syntax error.
type Located = (Option<(usize, usize)>, String);

fn read_hwloc(text: &str) -> Result<Vec<Pu>, Located> {
    // lstopo writes a DOCTYPE naming hwloc's DTD (it is not fetched or applied).
    let opts = roxmltree::ParsingOptions { allow_dtd: true, ..roxmltree::ParsingOptions::default() };
    let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
        let p = e.pos();
        (Some((p.row as usize, p.col as usize)), format!("not hwloc XML: {e}"))
    })?;
    let plain = |message: &str| (None, message.to_string());
    let root = doc.root_element();
    if root.tag_name().name() != "topology" {
        return Err(plain("not hwloc XML: the root element is not <topology>"));
    }
    fn ty<'a>(n: &roxmltree::Node<'a, '_>) -> &'a str {
        n.attribute("type").unwrap_or("")
    }
    // hwloc 1.x writes caches as type="Cache" with a depth; 2.x as L1Cache, L2Cache, ….
    let cache_level = |n: &roxmltree::Node| match ty(n) {
        "Cache" => n.attribute("depth").and_then(|d| d.parse::<u32>().ok()),
        t => t.strip_suffix("Cache").and_then(|l| l.strip_prefix('L')).and_then(|l| l.parse().ok()),
    };
    // The PUs below each object, computed once per object.
    let mut below: HashMap<roxmltree::NodeId, Rc<Vec<usize>>> = HashMap::new();
    let mut pus_below = |n: roxmltree::Node| -> Rc<Vec<usize>> {
        below
            .entry(n.id())
            .or_insert_with(|| {
                let mut v: Vec<usize> = n
                    .descendants()
                    .filter(|d| d.has_tag_name("object") && ty(d) == "PU")
                    .filter_map(|d| d.attribute("os_index")?.parse().ok())
                    .collect();
                v.sort_unstable();
                Rc::new(v)
            })
            .clone()
    };
    let mut pus = vec![];
    for pu in root.descendants().filter(|d| d.has_tag_name("object") && ty(d) == "PU") {
        let linux: usize = pu
            .attribute("os_index")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| plain("a PU object without an os_index (the Linux CPU number)"))?;
        if linux >= MAX_LISTED_CPU || pus.len() >= MAX_LISTED_CPU {
            return Err(plain(&format!("more than {MAX_LISTED_CPU} CPUs: beyond any machine the simulator describes")));
        }
        let ancestors: Vec<roxmltree::Node> = pu.ancestors().filter(|a| a.has_tag_name("object")).collect();
        let find = |pred: &dyn Fn(&roxmltree::Node) -> bool| ancestors.iter().find(|a| pred(a)).copied();
        let package = match find(&|a| ty(a) == "Package" || ty(a) == "Socket") {
            Some(p) => p.attribute("os_index").and_then(|s| s.parse().ok()).unwrap_or(p.id().get() as u64),
            None => 0,
        };
        let core = match find(&|a| ty(a) == "Core") {
            Some(c) => pus_below(c),
            None => Rc::new(vec![linux]),
        };
        let preds: [&dyn Fn(&roxmltree::Node) -> bool; GROUPINGS.len()] = [
            &|a| ty(a) == "Cluster",
            &|a| cache_level(a) == Some(3),
            &|a| ty(a) == "Die",
            &|a| ty(a) == "Group",
            &|a| cache_level(a) == Some(2),
        ];
        let groups = preds.map(|pred| find(pred).map(&mut pus_below));
        pus.push(Pu { linux, package, core, groups });
    }
    if pus.is_empty() {
        return Err(plain("no PU objects: not a machine's hwloc XML"));
    }
    pus.sort_by_key(|p| p.linux);
    Ok(pus)
}

/// The regular shape of `pus`, or why there is none.
fn shape(pus: Vec<Pu>) -> Result<Imported, String> {
    // Cores, each once, keyed by their CPUs.
    let mut cores: BTreeMap<Rc<Vec<usize>>, &Pu> = BTreeMap::new();
    for p in &pus {
        cores.entry(p.core.clone()).or_insert(p);
    }
    let threads: Vec<usize> = cores.keys().map(|c| c.len()).collect();
    let threads_per_core = threads[0];
    if threads.iter().any(|&t| t != threads_per_core) {
        return Err("cores have different numbers of SMT threads: not a regular machine".into());
    }
    let packages: Vec<u64> = {
        let mut v: Vec<u64> = cores.values().map(|p| p.package).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let cores_of = |pkg: u64| cores.iter().filter(move |(_, p)| p.package == pkg);
    // The first grouping that splits every package into several groups of several cores.
    let chosen = (0..GROUPINGS.len()).find(|&g| {
        packages.iter().all(|&pkg| {
            let groups: Option<Vec<&Rc<Vec<usize>>>> = cores_of(pkg).map(|(_, p)| p.groups[g].as_ref()).collect();
            groups.is_some_and(|gs| {
                let mut distinct = gs.clone();
                distinct.sort();
                distinct.dedup();
                distinct.len() > 1 && gs.len() / distinct.len() > 1
            })
        })
    });
    // (package, cluster key, core key) for every core, in simulated order.
    let mut order: Vec<(u64, CpuSet, CpuSet)> = cores
        .iter()
        .map(|(core, p)| {
            let cluster = chosen.and_then(|g| p.groups[g].clone()).unwrap_or_default();
            (p.package, cluster, core.clone())
        })
        .collect();
    order.sort();
    let mut per_package: BTreeMap<u64, BTreeMap<&Rc<Vec<usize>>, usize>> = BTreeMap::new();
    for (pkg, cluster, _) in &order {
        *per_package.entry(*pkg).or_default().entry(cluster).or_default() += 1;
    }
    let clusters: Vec<usize> = per_package.values().map(BTreeMap::len).collect();
    let sizes: Vec<usize> = per_package.values().flat_map(|c| c.values().copied()).collect();
    if clusters.iter().any(|&c| c != clusters[0]) {
        return Err(format!("packages have different numbers of clusters ({clusters:?}): not a regular machine"));
    }
    if sizes.iter().any(|&s| s != sizes[0]) {
        return Err(format!("clusters have different numbers of cores ({sizes:?}): not a regular machine"));
    }
    // Every Linux CPU becomes the simulated CPU of its number, so the numbers must be 0..n.
    let n = pus.len();
    if let Some(missing) = (0..n).find(|c| pus.binary_search_by_key(c, |p| p.linux).is_err()) {
        return Err(format!(
            "the Linux CPU numbers are not 0-{} (CPU {missing} is missing: offline?); a simulated machine numbers every CPU",
            n - 1
        ));
    }
    // Topology order: package, cluster, core, then the core's threads by Linux number.
    let linux_cpus: Vec<usize> = order.iter().flat_map(|(_, _, core)| core.iter().copied()).collect();
    if let Some(c) = linux_cpus.iter().find(|&&c| c >= n) {
        return Err(format!("CPU {c} is a core's SMT sibling but has no topology of its own (offline?)"));
    }
    let identity = linux_cpus.iter().enumerate().all(|(i, &c)| i == c);
    let topology = TopologyConfig {
        sockets: packages.len(),
        clusters_per_socket: clusters[0],
        cores_per_cluster: sizes[0],
        threads_per_core,
        linux_cpus: if identity { vec![] } else { linux_cpus },
        ..TopologyConfig::default()
    };
    topology.validate().map_err(|e| e.to_string())?;
    Ok(Imported { topology, cluster_is: chosen.map_or("package", |g| GROUPINGS[g]).to_string() })
}

impl Imported {
    /// The `[machine.topology]` section, with comments saying where it came from.
    pub fn to_toml(&self, source: &str) -> String {
        let t = &self.topology;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "# {source}: {} package(s) × {} cluster(s) ({}) × {} core(s) × {} thread(s) = {} CPUs",
            t.sockets,
            t.clusters_per_socket,
            self.cluster_is,
            t.cores_per_cluster,
            t.threads_per_core,
            t.num_cores()
        );
        let _ = writeln!(o, "# CPU numbers are the Linux CPU numbers");
        let _ = writeln!(o, "[machine.topology]");
        let _ = writeln!(o, "sockets = {}", t.sockets);
        let _ = writeln!(o, "clusters_per_socket = {}", t.clusters_per_socket);
        let _ = writeln!(o, "cores_per_cluster = {}", t.cores_per_cluster);
        let _ = writeln!(o, "threads_per_core = {}", t.threads_per_core);
        if !t.linux_cpus.is_empty() {
            let _ = writeln!(o, "# the Linux number of each CPU in topology order: package, cluster, core, thread");
            let numbers: Vec<String> = t.linux_cpus.iter().map(usize::to_string).collect();
            let _ = writeln!(o, "linux_cpus = [{}]", numbers.join(", "));
        }
        o
    }
}

/// `t` with the shape its `file` describes (sockets, clusters, cores, threads, Linux numbers);
/// a relative path is taken from `base`. Latencies and `file` are kept. Nothing happens when `file`
/// is empty.
pub fn apply_file(t: &mut TopologyConfig, base: &Path) -> Result<(), ImportError> {
    if t.file.is_empty() {
        return Ok(());
    }
    let m = import(&base.join(&t.file))?;
    let i = m.topology;
    t.sockets = i.sockets;
    t.clusters_per_socket = i.clusters_per_socket;
    t.cores_per_cluster = i.cores_per_cluster;
    t.threads_per_core = i.threads_per_core;
    t.linux_cpus = i.linux_cpus;
    Ok(())
}

/// The keys [`apply_file`] sets.
pub const SHAPE_KEYS: [&str; 5] =
    ["sockets", "clusters_per_socket", "cores_per_cluster", "threads_per_core", "linux_cpus"];
