//! Machine topology: sockets, clusters and cores as a petgraph graph.
//!
//! The interrupt controller delivers an IPI with a latency that depends on
//! how far apart the sender and the target are (DESIGN.md, "Interrupts").
//! That distance is the shortest path in an undirected graph whose nodes are
//! the sockets, the clusters and the cores of the machine and whose edge
//! weights are link latencies in cycles:
//!
//! ```text
//!   socket 0 ───────── socket 1          every pair of sockets is linked
//!   │       │          │       │         (socket_socket_latency)
//! cluster cluster    cluster cluster     cluster_socket_latency
//!  │ │ │   │ │ │      │ │ │   │ │ │      core_cluster_latency
//!  cores   cores      cores   cores
//! ```
//!
//! A *CPU* is what Linux numbers and the GIC calls a PE: a core, or one of
//! its SMT threads when `threads_per_core` > 1. An SMT core is a node of
//! its own between its threads and the cluster; the threads hang off it
//! with links of 0 cycles (they share the core's place in the interconnect;
//! each still has a pipeline of its own, see [`TopologyConfig::threads_per_core`]).
//!
//! CPUs sit in *topology order*: socket, then cluster within the socket,
//! then core within the cluster, then thread within the core. The
//! position in that order is the CPU's GICv3 affinity ([`Affinity`]), which
//! is how the interrupt controller addresses it. CPU numbers follow the same
//! order unless `linux_cpus` gives each position the number Linux gives it
//! (an imported machine: x86 numbers all first threads before any second
//! one), so that CPU *n* of a report is Linux's CPU *n*.
//!
//! ```
//! use cpu_model::topology::{DistanceClass, Topology, TopologyConfig};
//!
//! // A ThunderX2-like machine: 2 sockets × 7 clusters × 8 cores.
//! let cfg = TopologyConfig { sockets: 2, clusters_per_socket: 7, cores_per_cluster: 8, ..Default::default() };
//! let topo = Topology::new(&cfg).unwrap();
//! assert_eq!(topo.num_cores(), 112);
//! assert_eq!(topo.distance_class(0, 111), DistanceClass::CrossSocket);
//! assert!(topo.latency(0, 1) < topo.latency(0, 8));
//! assert!(topo.latency(0, 8) < topo.latency(0, 56));
//! ```

use std::fmt::Write as _;

use petgraph::algo::dijkstra;
use petgraph::graph::{NodeIndex, UnGraph};
use serde::{Deserialize, Serialize};
use sim::Cycle;

/// Shape of the machine and latency of each kind of link, in core cycles.
///
/// Latencies are one-way message latencies; cycle figures assume a 2.5 GHz
/// clock, as [`memory_model::cache::CacheConfig`] does. The default is a
/// small one-socket machine with two 4-core clusters (8 CPUs); presets set
/// larger shapes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TopologyConfig {
    /// Number of sockets (default 1: a small single-socket machine).
    pub sockets: usize,
    /// Clusters in each socket (default 2: the common two-cluster arm64 SoC, e.g. 4+4 cores).
    pub clusters_per_socket: usize,
    /// Cores in each cluster (default 4: the most a Cortex-A53/A57/A72 cluster holds).
    pub cores_per_cluster: usize,
    /// SMT threads in each core (default 1: no SMT, as on most arm64 parts). Each thread is a CPU
    /// with a pipeline, store buffer and TLB of its own: the model does not share issue slots or
    /// buffers between siblings, only their place in the interconnect (a sibling is 0 link cycles
    /// away), so an SMT machine's per-CPU figures are those of the core without a sibling.
    pub threads_per_core: usize,
    /// The Linux CPU number of each CPU in topology order (socket, cluster, core, thread), so
    /// that CPU numbers in configs and reports are the machine's own (default empty: CPUs are
    /// numbered in topology order). When set, a permutation of `0..n`.
    pub linux_cpus: Vec<usize>,
    /// An hwloc XML file (`lstopo --of xml`) or a copy of `/sys/devices/system/cpu` that gives
    /// the shape (sockets, clusters, cores, threads, Linux numbers); a relative path is relative
    /// to the configuration file naming it (default empty: the keys above give the shape). Read
    /// by isolsim's configuration loader (`isolsim topology --import` shows what it makes of one).
    pub file: String,
    /// Core ↔ its cluster: 10 cycles, so a same-cluster message takes 20 (8 ns), about half the
    /// fastest core-to-core line transfer (15 ns, DESIGN.md), which is a request plus a response.
    pub core_cluster_latency: Cycle,
    /// Cluster ↔ its socket: 40 cycles, so crossing clusters takes 2×10 + 2×40 = 100 (40 ns), half
    /// the slow end of the core-to-core transfer range (80 ns, DESIGN.md).
    pub cluster_socket_latency: Cycle,
    /// Socket ↔ socket interconnect: 60 cycles (24 ns): a remote-socket access is commonly quoted
    /// at ~40–50 ns more than a local one on UPI-linked Skylake-SP, and a round trip crosses twice.
    pub socket_socket_latency: Cycle,
}

impl Default for TopologyConfig {
    fn default() -> Self {
        TopologyConfig {
            sockets: 1,
            clusters_per_socket: 2,
            cores_per_cluster: 4,
            threads_per_core: 1,
            linux_cpus: Vec::new(),
            file: String::new(),
            core_cluster_latency: 10,
            cluster_socket_latency: 40,
            socket_socket_latency: 60,
        }
    }
}

/// Largest machine a [`Topology`] describes.
///
/// The memory model's directory width ([`memory_model::cache::MAX_CORES`]),
/// so that every core of a valid topology can run; it bounds the
/// cluster-distance table at 8 MiB even when every cluster has a single core.
pub const MAX_CORES: usize = memory_model::cache::MAX_CORES;

/// Each affinity level is an 8-bit field of MPIDR_EL1 and ICC_SGI1R_EL1.
const MAX_PER_LEVEL: usize = 256;

/// Link latencies are capped so that no path sum can overflow a [`Cycle`].
const MAX_LINK_LATENCY: Cycle = u32::MAX as Cycle;

/// Why a [`TopologyConfig`] does not describe a machine.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TopologyError {
    /// A count is zero.
    #[error("topology: `{0}` must be at least 1")]
    Zero(&'static str),
    /// A count does not fit its 8-bit affinity field.
    #[error("topology: `{field}` is {value}, but an affinity level holds at most {MAX_PER_LEVEL}")]
    LevelTooLarge {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: usize,
    },
    /// The product of the counts is too large.
    #[error("topology: {0} cores, more than the {MAX_CORES} supported")]
    TooManyCores(usize),
    /// More CPUs in a cluster than its Aff0 field numbers.
    #[error(
        "topology: {cores} cores × {threads} threads = {} CPUs in a cluster, but Aff0 numbers at most {MAX_PER_LEVEL}",
        cores * threads
    )]
    ClusterTooLarge {
        /// Cores per cluster.
        cores: usize,
        /// Threads per core.
        threads: usize,
    },
    /// `linux_cpus` is not a numbering of the machine's CPUs.
    #[error("topology: `linux_cpus` {0}")]
    LinuxCpus(String),
    /// A link latency is absurdly large.
    #[error("topology: `{field}` is {value} cycles, more than {MAX_LINK_LATENCY}")]
    LatencyTooLarge {
        /// The config field.
        field: &'static str,
        /// Its value.
        value: Cycle,
    },
}

impl From<TopologyError> for sim::Invalid {
    /// The error with the fields it is about (relative to the topology).
    fn from(e: TopologyError) -> sim::Invalid {
        let keys: &[&str] = match &e {
            TopologyError::Zero(field)
            | TopologyError::LevelTooLarge { field, .. }
            | TopologyError::LatencyTooLarge { field, .. } => &[field],
            TopologyError::ClusterTooLarge { .. } => &["cores_per_cluster", "threads_per_core"],
            TopologyError::LinuxCpus(_) => &["linux_cpus"],
            _ => &["sockets", "clusters_per_socket", "cores_per_cluster"],
        };
        sim::Invalid::new(keys, e.to_string())
    }
}

impl TopologyConfig {
    /// Total number of CPUs (hardware threads) the config describes (saturating).
    pub fn num_cores(&self) -> usize {
        self.sockets
            .saturating_mul(self.clusters_per_socket)
            .saturating_mul(self.cores_per_cluster)
            .saturating_mul(self.threads_per_core)
    }

    /// CPUs in each cluster: its cores' threads.
    pub fn cpus_per_cluster(&self) -> usize {
        self.cores_per_cluster.saturating_mul(self.threads_per_core)
    }

    /// Checks that the config describes a machine [`Topology::new`] can build.
    pub fn validate(&self) -> Result<(), TopologyError> {
        let counts = [
            ("sockets", self.sockets),
            ("clusters_per_socket", self.clusters_per_socket),
            ("cores_per_cluster", self.cores_per_cluster),
            ("threads_per_core", self.threads_per_core),
        ];
        for (field, value) in counts {
            if value == 0 {
                return Err(TopologyError::Zero(field));
            }
            if value > MAX_PER_LEVEL {
                return Err(TopologyError::LevelTooLarge { field, value });
            }
        }
        if self.cpus_per_cluster() > MAX_PER_LEVEL {
            return Err(TopologyError::ClusterTooLarge {
                cores: self.cores_per_cluster,
                threads: self.threads_per_core,
            });
        }
        if self.num_cores() > MAX_CORES {
            return Err(TopologyError::TooManyCores(self.num_cores()));
        }
        if !self.linux_cpus.is_empty() {
            let n = self.num_cores();
            if self.linux_cpus.len() != n {
                return Err(TopologyError::LinuxCpus(format!(
                    "numbers {} CPUs, but the machine has {n}",
                    self.linux_cpus.len()
                )));
            }
            let mut seen = vec![false; n];
            for &c in &self.linux_cpus {
                if c >= n {
                    return Err(TopologyError::LinuxCpus(format!(
                        "names CPU {c}: the numbers must be 0..{n} (each once)"
                    )));
                }
                if std::mem::replace(&mut seen[c], true) {
                    return Err(TopologyError::LinuxCpus(format!("names CPU {c} twice")));
                }
            }
        }
        let latencies = [
            ("core_cluster_latency", self.core_cluster_latency),
            ("cluster_socket_latency", self.cluster_socket_latency),
            ("socket_socket_latency", self.socket_socket_latency),
        ];
        for (field, value) in latencies {
            if value > MAX_LINK_LATENCY {
                return Err(TopologyError::LatencyTooLarge { field, value });
            }
        }
        Ok(())
    }
}

/// A node of the topology graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Node {
    /// A socket (package).
    Socket {
        /// Socket number.
        socket: usize,
    },
    /// A cluster of cores sharing a level of the memory system.
    Cluster {
        /// Socket number.
        socket: usize,
        /// Cluster number within the socket (the Aff1 value).
        cluster: usize,
    },
    /// An SMT core: the node its threads hang off (only when `threads_per_core` > 1).
    SmtCore {
        /// Machine-wide core index in topology order.
        index: usize,
    },
    /// A CPU (a PE, in GIC terms): a core, or an SMT thread of one.
    Core {
        /// The CPU's number.
        core: usize,
    },
}

/// How far apart two CPUs are, nearest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DistanceClass {
    /// The same CPU.
    SameCore,
    /// SMT threads of one core.
    SmtSibling,
    /// Different cores of one cluster.
    SameCluster,
    /// Different clusters of one socket.
    SameSocket,
    /// Different sockets.
    CrossSocket,
}

/// A CPU's GICv3 affinity: the Aff2.Aff1.Aff0 fields of its MPIDR_EL1.
///
/// `aff1` is the cluster's index *within its socket*, not within the
/// machine: affinity is hierarchical on real parts (Aff2 picks the socket,
/// Aff1 a cluster inside it) and ICC_SGI1R_EL1 names a target cluster by
/// both fields, so keeping Aff1 local keeps each field 8 bits wide. Aff3 is
/// always 0. `aff0` is the CPU's position in its cluster, threads of a core
/// adjacent (core × threads + thread): the GIC needs distinct affinities, not
/// MPIDR_EL1.MT's shifted layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Affinity {
    /// Socket.
    pub aff2: u8,
    /// Cluster within the socket.
    pub aff1: u8,
    /// CPU within the cluster.
    pub aff0: u8,
}

impl Affinity {
    /// The affinity bits of MPIDR_EL1: Aff2 in bits 23:16, Aff1 in 15:8, Aff0 in 7:0.
    pub fn mpidr(self) -> u64 {
        (u64::from(self.aff2) << 16) | (u64::from(self.aff1) << 8) | u64::from(self.aff0)
    }

    /// The affinity in an MPIDR_EL1 value (other bits ignored).
    pub fn from_mpidr(mpidr: u64) -> Self {
        Affinity { aff2: (mpidr >> 16) as u8, aff1: (mpidr >> 8) as u8, aff0: mpidr as u8 }
    }
}

/// A built machine topology with precomputed CPU-to-CPU latencies.
#[derive(Clone, Debug)]
pub struct Topology {
    cfg: TopologyConfig,
    graph: UnGraph<Node, Cycle>,
    /// Each CPU's node, by CPU number.
    core_nodes: Vec<NodeIndex>,
    cluster_nodes: Vec<NodeIndex>,
    /// Each CPU's position in topology order, by CPU number.
    position: Vec<usize>,
    /// The CPU at each position.
    cpu_at: Vec<usize>,
    /// Shortest-path latency between cluster nodes, row-major by machine-wide
    /// cluster index.
    cluster_latency: Vec<Cycle>,
}

impl Topology {
    /// Builds the graph and its latency tables.
    ///
    /// CPUs are leaves: a CPU's only edge goes to its cluster (or to its SMT
    /// core, whose other edge goes to the cluster). So the shortest path
    /// between CPUs of different cores is their two uplinks plus the shortest
    /// path between their clusters, and a table over clusters (Dijkstra from
    /// each cluster node) gives O(1) lookups in far less memory than an n×n
    /// table: 196 entries for 112 cores in 14 clusters.
    pub fn new(cfg: &TopologyConfig) -> Result<Self, TopologyError> {
        cfg.validate()?;
        let n = cfg.num_cores();
        let num_clusters = cfg.sockets * cfg.clusters_per_socket;
        let smt_cores = if cfg.threads_per_core > 1 { num_clusters * cfg.cores_per_cluster } else { 0 };
        let mut graph = UnGraph::with_capacity(
            cfg.sockets + num_clusters + smt_cores + n,
            cfg.sockets * cfg.sockets + num_clusters + smt_cores + n,
        );
        let sockets: Vec<NodeIndex> = (0..cfg.sockets).map(|socket| graph.add_node(Node::Socket { socket })).collect();
        // Every pair of sockets is directly linked: two- and four-socket
        // servers are wired all-to-all; larger glueless machines are not, and
        // would need their own edges.
        for a in 0..cfg.sockets {
            for b in a + 1..cfg.sockets {
                graph.add_edge(sockets[a], sockets[b], cfg.socket_socket_latency);
            }
        }
        let mut cluster_nodes = Vec::with_capacity(num_clusters);
        for (socket, &s) in sockets.iter().enumerate() {
            for cluster in 0..cfg.clusters_per_socket {
                let c = graph.add_node(Node::Cluster { socket, cluster });
                graph.add_edge(s, c, cfg.cluster_socket_latency);
                cluster_nodes.push(c);
            }
        }
        // Before the cores are added: leaves lie on no path between clusters, and without them
        // each search visits sockets and clusters only (a large machine has 10-100× more cores).
        let mut cluster_latency = Vec::with_capacity(num_clusters * num_clusters);
        for &from in &cluster_nodes {
            let dist = dijkstra(&graph, from, None, |e| *e.weight());
            // The graph is connected, so every cluster is reached.
            cluster_latency.extend(cluster_nodes.iter().map(|to| dist[to]));
        }
        let cpu_at: Vec<usize> = if cfg.linux_cpus.is_empty() { (0..n).collect() } else { cfg.linux_cpus.clone() };
        let mut position = vec![0; n];
        for (p, &cpu) in cpu_at.iter().enumerate() {
            position[cpu] = p;
        }
        let mut core_nodes = vec![NodeIndex::end(); n];
        let mut p = 0;
        for &c in &cluster_nodes {
            for _ in 0..cfg.cores_per_cluster {
                let parent = if cfg.threads_per_core > 1 {
                    let core = graph.add_node(Node::SmtCore { index: p / cfg.threads_per_core });
                    graph.add_edge(c, core, cfg.core_cluster_latency);
                    core
                } else {
                    c
                };
                for _ in 0..cfg.threads_per_core {
                    let cpu = cpu_at[p];
                    let node = graph.add_node(Node::Core { core: cpu });
                    // A thread shares its core's link: 0 cycles to the core node.
                    graph.add_edge(parent, node, if parent == c { cfg.core_cluster_latency } else { 0 });
                    core_nodes[cpu] = node;
                    p += 1;
                }
            }
        }
        Ok(Topology { cfg: cfg.clone(), graph, core_nodes, cluster_nodes, position, cpu_at, cluster_latency })
    }

    /// The configuration this topology was built from.
    pub fn config(&self) -> &TopologyConfig {
        &self.cfg
    }

    /// Number of CPUs (`sockets × clusters_per_socket × cores_per_cluster × threads_per_core`).
    pub fn num_cores(&self) -> usize {
        self.core_nodes.len()
    }

    /// Number of sockets.
    pub fn num_sockets(&self) -> usize {
        self.cfg.sockets
    }

    /// Number of clusters in the whole machine.
    pub fn num_clusters(&self) -> usize {
        self.cluster_nodes.len()
    }

    /// The graph: nodes are [`Node`]s, edge weights link latencies in cycles.
    pub fn graph(&self) -> &UnGraph<Node, Cycle> {
        &self.graph
    }

    /// The graph node of CPU `core`. Panics if `core` does not exist.
    pub fn core_node(&self, core: usize) -> NodeIndex {
        self.core_nodes[core]
    }

    /// CPU `core`'s position in topology order (socket, cluster, core, thread).
    pub fn position_of(&self, core: usize) -> usize {
        self.check(core);
        self.position[core]
    }

    /// The CPU at position `p` of topology order. Panics if there is none.
    pub fn cpu_at_position(&self, p: usize) -> usize {
        self.cpu_at[p]
    }

    /// The socket holding CPU `core`.
    pub fn socket_of(&self, core: usize) -> usize {
        self.position_of(core) / (self.cfg.clusters_per_socket * self.cfg.cpus_per_cluster())
    }

    /// The machine-wide index of the cluster holding CPU `core` (socket-major).
    pub fn cluster_of(&self, core: usize) -> usize {
        self.position_of(core) / self.cfg.cpus_per_cluster()
    }

    /// The machine-wide index of the (physical) core holding CPU `core`, in topology order.
    pub fn physical_core_of(&self, core: usize) -> usize {
        self.position_of(core) / self.cfg.threads_per_core
    }

    /// The CPUs of machine-wide cluster `cluster`, in topology order.
    pub fn cores_of_cluster(&self, cluster: usize) -> Vec<usize> {
        assert!(cluster < self.num_clusters(), "cluster {cluster} beyond the machine's {}", self.num_clusters());
        let k = self.cfg.cpus_per_cluster();
        self.cpu_at[cluster * k..(cluster + 1) * k].to_vec()
    }

    /// The CPUs of CPU `core`'s physical core (itself and its SMT siblings), in thread order.
    pub fn threads_of(&self, core: usize) -> Vec<usize> {
        let t = self.cfg.threads_per_core;
        let first = self.physical_core_of(core) * t;
        self.cpu_at[first..first + t].to_vec()
    }

    /// One-way latency in cycles of a message from `from` to `to`: the
    /// shortest path between them in the graph (0 for the same CPU and for
    /// SMT siblings). O(1). Symmetric. Panics if either CPU does not exist.
    pub fn latency(&self, from: usize, to: usize) -> Cycle {
        if from == to {
            self.check(from);
            return 0;
        }
        if self.physical_core_of(from) == self.physical_core_of(to) {
            return 0;
        }
        let (a, b) = (self.cluster_of(from), self.cluster_of(to));
        // Each end's path to its cluster is one core-cluster link (an SMT thread's own link is 0).
        2 * self.cfg.core_cluster_latency + self.cluster_latency[a * self.num_clusters() + b]
    }

    /// Round trip to the farthest CPU from `core` (a broadcast's completion).
    pub fn max_round_trip(&self, core: usize) -> Cycle {
        (0..self.num_cores()).map(|t| 2 * self.latency(core, t)).max().unwrap_or(0)
    }

    /// How far apart two CPUs are. Panics if either CPU does not exist.
    pub fn distance_class(&self, a: usize, b: usize) -> DistanceClass {
        if a == b {
            self.check(a);
            DistanceClass::SameCore
        } else if self.physical_core_of(a) == self.physical_core_of(b) {
            DistanceClass::SmtSibling
        } else if self.cluster_of(a) == self.cluster_of(b) {
            DistanceClass::SameCluster
        } else if self.socket_of(a) == self.socket_of(b) {
            DistanceClass::SameSocket
        } else {
            DistanceClass::CrossSocket
        }
    }

    /// The GICv3 affinity of CPU `core`. Panics if `core` does not exist.
    pub fn affinity(&self, core: usize) -> Affinity {
        let p = self.position_of(core);
        let k = self.cfg.cpus_per_cluster();
        let c = self.cfg.clusters_per_socket;
        // validate() keeps every level within 8 bits.
        Affinity { aff2: (p / (c * k)) as u8, aff1: (p / k % c) as u8, aff0: (p % k) as u8 }
    }

    /// The CPU with affinity `aff`, if the machine has one.
    pub fn core_at(&self, aff: Affinity) -> Option<usize> {
        let (s, c, k) = (usize::from(aff.aff2), usize::from(aff.aff1), usize::from(aff.aff0));
        let per = self.cfg.cpus_per_cluster();
        (s < self.cfg.sockets && c < self.cfg.clusters_per_socket && k < per)
            .then(|| self.cpu_at[(s * self.cfg.clusters_per_socket + c) * per + k])
    }

    /// The graph in Graphviz DOT, for documentation: sockets as boxes,
    /// clusters as ellipses labelled with their Aff2.Aff1, SMT cores as
    /// points, CPUs labelled with their number and full affinity, edges
    /// labelled with their latency.
    pub fn to_dot(&self) -> String {
        let name = |node: Node| match node {
            Node::Socket { socket } => format!("s{socket}"),
            Node::Cluster { socket, cluster } => format!("s{socket}c{cluster}"),
            Node::SmtCore { index } => format!("core{index}"),
            Node::Core { core } => format!("cpu{core}"),
        };
        let mut out = String::new();
        let cfg = &self.cfg;
        // Writing to a String cannot fail.
        let _ = writeln!(out, "graph topology {{");
        let threads =
            if cfg.threads_per_core > 1 { format!(" × {} threads", cfg.threads_per_core) } else { String::new() };
        let _ = writeln!(
            out,
            "  label=\"{} socket(s) × {} cluster(s) × {} core(s){threads}; edge labels: latency in cycles\";",
            cfg.sockets, cfg.clusters_per_socket, cfg.cores_per_cluster
        );
        for node in self.graph.node_weights() {
            let attrs = match *node {
                Node::Socket { socket } => format!("label=\"socket {socket}\", shape=box"),
                Node::Cluster { socket, cluster } => format!("label=\"cluster {socket}.{cluster}\""),
                Node::SmtCore { index } => format!("label=\"core {index}\", shape=box, style=rounded"),
                Node::Core { core } => {
                    let a = self.affinity(core);
                    format!("label=\"cpu{core}\\n{}.{}.{}\", shape=plaintext", a.aff2, a.aff1, a.aff0)
                }
            };
            let _ = writeln!(out, "  {} [{attrs}];", name(*node));
        }
        for e in self.graph.raw_edges() {
            let (a, b) = (self.graph[e.source()], self.graph[e.target()]);
            let _ = writeln!(out, "  {} -- {} [label=\"{}\"];", name(a), name(b), e.weight);
        }
        out.push_str("}\n");
        out
    }

    fn check(&self, core: usize) {
        assert!(core < self.num_cores(), "core {core} beyond the machine's {}", self.num_cores());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(sockets: usize, clusters_per_socket: usize, cores_per_cluster: usize) -> Topology {
        Topology::new(&TopologyConfig { sockets, clusters_per_socket, cores_per_cluster, ..Default::default() })
            .unwrap()
    }

    #[test]
    fn core_count_is_the_product_of_the_counts() {
        assert_eq!(Topology::new(&TopologyConfig::default()).unwrap().num_cores(), 8);
        assert_eq!(shape(2, 7, 8).num_cores(), 112);
        assert_eq!(shape(2, 1, 28).num_cores(), 56);
        assert_eq!(shape(3, 2, 5).num_cores(), 30);
        let t = shape(2, 7, 8);
        assert_eq!(t.num_clusters(), 14);
        assert_eq!(t.graph().node_count(), 2 + 14 + 112);
        assert_eq!(t.graph().edge_count(), 1 + 14 + 112);
    }

    #[test]
    fn latency_is_symmetric_and_grows_with_distance_class() {
        let t = shape(2, 7, 8);
        let mut by_class = std::collections::BTreeMap::<DistanceClass, (Cycle, Cycle)>::new();
        for a in 0..t.num_cores() {
            for b in 0..t.num_cores() {
                let l = t.latency(a, b);
                assert_eq!(l, t.latency(b, a), "{a} {b}");
                let e = by_class.entry(t.distance_class(a, b)).or_insert((Cycle::MAX, 0));
                *e = (e.0.min(l), e.1.max(l));
            }
        }
        let classes: Vec<_> = by_class.keys().copied().collect();
        use DistanceClass::*;
        assert_eq!(classes, [SameCore, SameCluster, SameSocket, CrossSocket]);
        assert_eq!(by_class[&SameCore], (0, 0));
        // Every pair of one class is strictly closer than every pair of the next.
        let ranges: Vec<_> = by_class.values().copied().collect();
        for w in ranges.windows(2) {
            assert!(w[0].1 < w[1].0, "{ranges:?}");
        }
        // The default latencies, path by path.
        assert_eq!(t.latency(0, 7), 20);
        assert_eq!(t.latency(0, 8), 100);
        assert_eq!(t.latency(0, 56), 160);
    }

    #[test]
    fn table_equals_shortest_paths_in_the_whole_graph() {
        let cfg = TopologyConfig {
            sockets: 3,
            clusters_per_socket: 3,
            cores_per_cluster: 2,
            core_cluster_latency: 3,
            cluster_socket_latency: 7,
            socket_socket_latency: 50,
            ..Default::default()
        };
        let t = Topology::new(&cfg).unwrap();
        for a in 0..t.num_cores() {
            let dist = dijkstra(t.graph(), t.core_node(a), None, |e| *e.weight());
            for b in 0..t.num_cores() {
                assert_eq!(t.latency(a, b), dist[&t.core_node(b)], "{a} {b}");
            }
        }
    }

    #[test]
    fn affinity_round_trips_and_is_socket_major() {
        let t = shape(2, 7, 8);
        for core in 0..t.num_cores() {
            let a = t.affinity(core);
            assert_eq!(t.core_at(a), Some(core));
            assert_eq!(Affinity::from_mpidr(a.mpidr()), a);
            assert_eq!(usize::from(a.aff2), t.socket_of(core));
            assert_eq!(usize::from(a.aff2) * 7 + usize::from(a.aff1), t.cluster_of(core));
            assert!(t.cores_of_cluster(t.cluster_of(core)).contains(&core));
        }
        assert_eq!(t.affinity(0), Affinity { aff2: 0, aff1: 0, aff0: 0 });
        assert_eq!(t.affinity(9), Affinity { aff2: 0, aff1: 1, aff0: 1 });
        assert_eq!(t.affinity(111), Affinity { aff2: 1, aff1: 6, aff0: 7 });
        assert_eq!(t.affinity(57).mpidr(), 0x01_00_01);
        assert_eq!(t.core_at(Affinity { aff2: 2, aff1: 0, aff0: 0 }), None);
        assert_eq!(t.core_at(Affinity { aff2: 0, aff1: 7, aff0: 0 }), None);
        assert_eq!(t.core_at(Affinity { aff2: 0, aff1: 0, aff0: 8 }), None);
    }

    #[test]
    fn bad_configs_are_rejected() {
        let bad = |f: fn(&mut TopologyConfig)| {
            let mut c = TopologyConfig::default();
            f(&mut c);
            Topology::new(&c).unwrap_err()
        };
        assert_eq!(bad(|c| c.sockets = 0), TopologyError::Zero("sockets"));
        assert!(matches!(bad(|c| c.cores_per_cluster = 257), TopologyError::LevelTooLarge { .. }));
        assert_eq!(
            bad(|c| {
                c.sockets = 8;
                c.clusters_per_socket = 16;
                c.cores_per_cluster = 16;
            }),
            TopologyError::TooManyCores(2048)
        );
        assert!(matches!(bad(|c| c.socket_socket_latency = Cycle::MAX), TopologyError::LatencyTooLarge { .. }));
    }

    /// An x86-style SMT machine: 2 sockets × 2 L3 groups × 2 cores × 2 threads, Linux numbering
    /// every first thread (0-7) before any second one (8-15).
    fn smt() -> Topology {
        let linux_cpus = vec![0, 8, 1, 9, 2, 10, 3, 11, 4, 12, 5, 13, 6, 14, 7, 15];
        Topology::new(&TopologyConfig {
            sockets: 2,
            clusters_per_socket: 2,
            cores_per_cluster: 2,
            threads_per_core: 2,
            linux_cpus,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn smt_threads_are_cpus_numbered_as_linux_numbers_them() {
        let t = smt();
        assert_eq!(t.num_cores(), 16);
        assert_eq!(t.threads_of(0), [0, 8]);
        assert_eq!(t.threads_of(9), [1, 9]);
        assert_eq!(t.cores_of_cluster(1), [2, 10, 3, 11]);
        assert_eq!(t.distance_class(0, 8), DistanceClass::SmtSibling);
        assert_eq!(t.distance_class(0, 1), DistanceClass::SameCluster);
        assert_eq!(t.distance_class(0, 2), DistanceClass::SameSocket);
        assert_eq!(t.distance_class(8, 12), DistanceClass::CrossSocket);
        assert_eq!(t.latency(0, 8), 0);
        assert_eq!(t.latency(8, 1), t.latency(0, 1));
        // Affinity follows topology order, whatever the numbering.
        assert_eq!(t.affinity(8), Affinity { aff2: 0, aff1: 0, aff0: 1 });
        assert_eq!(t.affinity(1), Affinity { aff2: 0, aff1: 0, aff0: 2 });
        for cpu in 0..16 {
            assert_eq!(t.core_at(t.affinity(cpu)), Some(cpu));
            assert_eq!(t.cpu_at_position(t.position_of(cpu)), cpu);
            assert!(t.threads_of(cpu).contains(&cpu));
            // The O(1) table is the graph's shortest paths, SMT core nodes included.
            let dist = dijkstra(t.graph(), t.core_node(cpu), None, |e| *e.weight());
            for b in 0..16 {
                assert_eq!(t.latency(cpu, b), dist[&t.core_node(b)], "{cpu} {b}");
            }
        }
        assert_eq!(t.graph().node_count(), 2 + 4 + 8 + 16);
    }

    #[test]
    fn linux_numbers_must_number_every_cpu_once() {
        let bad = |linux_cpus: Vec<usize>| {
            TopologyConfig { threads_per_core: 2, linux_cpus, ..Default::default() }.validate().unwrap_err().to_string()
        };
        assert!(bad(vec![0, 1]).contains("numbers 2 CPUs, but the machine has 16"), "{}", bad(vec![0, 1]));
        let mut dup: Vec<usize> = (0..16).collect();
        dup[3] = 2;
        assert!(bad(dup).contains("names CPU 2 twice"));
        let mut out: Vec<usize> = (0..16).collect();
        out[0] = 16;
        assert!(bad(out).contains("names CPU 16"));
        let too_wide = TopologyConfig { cores_per_cluster: 200, threads_per_core: 2, ..Default::default() };
        assert!(matches!(too_wide.validate(), Err(TopologyError::ClusterTooLarge { .. })));
    }

    #[test]
    fn dot_lists_every_node_and_edge() {
        let t = shape(2, 1, 2);
        let dot = t.to_dot();
        assert!(dot.starts_with("graph topology {"));
        assert!(dot.contains("s0 -- s1 [label=\"60\"];"));
        assert!(dot.contains("s1 -- s1c0 [label=\"40\"];"));
        assert!(dot.contains("s1c0 -- cpu3 [label=\"10\"];"));
        assert!(dot.contains("cpu3 [label=\"cpu3\\n1.0.1\""));
        assert_eq!(dot.matches(" -- ").count(), t.graph().edge_count());
    }
}
