//! The MMU's building blocks: page tables in simulated memory, per-core TLBs,
//! and the bookkeeping that tells a stale translation from a fresh one.
//!
//! ```text
//!   access(va, asid) ──▶ Tlb::lookup ── hit ──▶ TlbHit { pa, entry } ──▶ InvalidationLog::is_stale(entry)?
//!                           │ miss                                              ▲
//!                           ▼                                                   │ complete(inv, at)
//!        walk(cfg, root, va, read) ──▶ Tlb::fill                 whoever finishes a shootdown: the
//!        one descriptor per level,      (entry remembers          sender's DSB after TLBI, or the
//!        read from FlatMemory            when it was filled)      last ack of an IPI round
//! ```
//!
//! **Page tables live in [`FlatMemory`]**, one 64-bit descriptor per 8-byte
//! cell, so kernel code changes them with ordinary stores that obey the same
//! ordering rules as any other data. A TLB is *not* coherent with those
//! stores: it keeps what a walk read until an invalidation removes it. That
//! is the property the isolation protocol has to manage, and the reason this
//! module keeps an [`InvalidationLog`]: when a core uses a translation, the
//! checker can ask whether the system had already declared it gone.
//!
//! Nothing here takes time by itself. [`walk`] returns the descriptor
//! addresses it read, so the caller charges
//! [`TlbConfig::walk_cycles_per_level`] per read (or sends each read through
//! [`CoherenceModel::load`](crate::cache::CoherenceModel::load) when cache
//! state should matter) and can record which writes the walk observed.
//!
//! ## Descriptor format
//! AArch64 stage-1 descriptors for the 4 KiB granule, reduced to the fields
//! the model uses ([`Descriptor`]):
//!
//! | bits    | table descriptor (levels before the leaf) | page descriptor (leaf level)        |
//! |---------|--------------------------------------------|-------------------------------------|
//! | 0       | valid                                      | valid                               |
//! | 1       | 1 = table                                  | 1 = page                            |
//! | 6       | —                                          | AP\[1\]: accessible from user mode  |
//! | 7       | —                                          | AP\[2\]: read-only                  |
//! | 10      | —                                          | AF, set on every page the builder makes; not checked |
//! | 11      | —                                          | nG: not global (tagged with an ASID) |
//! | 47:12   | next-level table address                   | output (physical) address           |
//!
//! Everything else (memory attributes, shareability, execute-never, table
//! attributes) is ignored. A valid descriptor with bit 1 clear is a block
//! (huge page) before the leaf level and reserved at it; the model has no
//! blocks, so both walk to [`FaultKind::Reserved`].
//!
//! One root covers the whole address space, x86-64 style: virtual addresses
//! are *canonical* (bits above the translated range all equal the top
//! translated bit), the lower half is user space and the upper half kernel
//! space. AArch64 splits the halves over two roots (TTBR0/TTBR1); for the
//! questions this simulator asks, one root with both halves is equivalent.
//! Levels are numbered from the root, 0 to `levels - 1`; with the default 4
//! levels that is AArch64's level 0–3 numbering.
//!
//! ## Defaults and where they come from
//! * **TLB shape**: 1536 entries, 12-way (128 sets), Skylake-SP's
//!   second-level TLB (STLB), the structure that decides whether a walk
//!   happens. First-level TLBs are folded into the cache-hit latency.
//! * **Walk**: 12 cycles per level, a Skylake L2 hit (DESIGN.md): page-table
//!   lines are usually cache-resident but rarely in L1 after a TLB miss.
//!   Paging-structure caches are not modelled, so a full 4-level walk costs
//!   48 cycles.
//! * **Local invalidations**. DESIGN.md gives whole-operation costs of the
//!   kernel's local flush on Skylake: 2119 cycles for 1 page, 6791 for 10.
//!   A straight line through both, `cost(n) = F + n·p`, gives the per-page
//!   slope `p = (6791 − 2119) / 9 = 519` cycles and the intercept
//!   `F = 2119 − 519 = 1600` cycles. The slope is what one more
//!   invalidate-by-VA costs: the local invalidate-by-VA default. The
//!   intercept is what the flush costs beyond its per-page work; a local
//!   invalidate-all does no per-page work, so it is charged `F`, the
//!   invalidate-all default here. The x86-server preset charges 700
//!   instead: the deferred kernel flush at entry adds 280–570 ns to
//!   getpid() on E7-8890/E5-2699 (DESIGN.md) including the refill walks,
//!   which the machine simulates (`isolsim calibrate` shows the result).
//! * **Broadcast disturbance**: DESIGN.md reports that on ThunderX2 a
//!   sibling's mprotect() loop slowed an unrelated job from 39 to 49 ms,
//!   10 ms of stall spread over the broadcast TLBIs the job's core
//!   received. An arm64 mprotect() call that changes one page's protection
//!   takes about 3 µs (2.85–3.2 µs, measured for Linux commit "arm64/mm:
//!   Elide TLB flush in certain pte protection transitions") and issues one
//!   TLBI VALE1IS, so over 49 ms the job received ≈ 49 ms / 3 µs ≈ 16 300
//!   TLBIs, ≈ 610 ns each: 1300 cycles at ThunderX2's 2.1 GHz (the clock the
//!   `arm64-server` preset assumes). This is an upper bound if the sibling
//!   shared the job's core (ThunderX2 is 4-way SMT), since pipeline sharing
//!   then also slowed the job. `isolsim calibrate` runs that experiment
//!   (workloads::tlbi_bench: the job next to a loop of `sys_mprotect`
//!   calls) and gets 39 → 49.2 ms.
//!
//! ## Stale translations
//! An invalidation is *complete* when the system believes the translation is
//! gone from every TLB it had to reach: for broadcast TLBI, when the
//! sender's DSB after it finishes; for an IPI shootdown, when the sender has
//! collected every ack; for a deferred scheme, when the sender returns
//! having skipped the isolated CPUs. The caller decides and calls
//! [`InvalidationLog::complete`] at that cycle. A TLB entry is *stale* if an
//! invalidation covering it completed after the entry was filled: using it
//! means using a translation the system believed gone, the failure the
//! isolation protocol must never allow in the kernel after its entry hook.

use std::fmt;
use std::ops::{Deref, Range};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};
use sim::{Cycle, Invalid};

use crate::memory::FlatMemory;
use crate::types::{Addr, TlbiScope};

/// Address-space identifier: an AArch64 ASID (8 or 16 bits) or an x86 PCID
/// (12 bits).
pub type Asid = u16;

/// Virtual page number: a virtual address shifted right by the page size.
pub type Vpn = u64;

/// The deepest walk supported: 5 levels (x86 LA57 with 4 KiB pages).
pub const MAX_LEVELS: usize = 5;

/// Bytes per descriptor: one [`FlatMemory`] cell.
pub const DESCRIPTOR_BYTES: u64 = 8;

/// MMU and TLB parameters, in bytes, bits, entries and core cycles. The
/// module docs derive the cost defaults.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlbConfig {
    /// Page (translation granule) size in bytes: 4 KiB, the base page of Linux on x86-64 and arm64.
    pub page_bytes: u64,
    /// Table levels per walk: 4, as for a 48-bit VA with 4 KiB pages on AArch64 and x86-64.
    pub levels: u32,
    /// Physical address bits: 48, the widest output address a descriptor holds (bits 47:12);
    /// Skylake-SP implements 46.
    pub pa_bits: u32,
    /// TLB entries per core: 1536, Skylake-SP's second-level TLB (STLB).
    pub entries: usize,
    /// TLB associativity: 12 ways, Skylake-SP's STLB (128 sets).
    pub ways: usize,
    /// Cycles per descriptor read of a walk: 12, a Skylake L2 hit (DESIGN.md), where page-table
    /// lines usually are; no paging-structure caches, so a full walk costs `levels` × 12.
    pub walk_cycles_per_level: Cycle,
    /// Local invalidate-by-VA (TLBI VALE1, INVLPG): 519 cycles, the per-page slope of DESIGN.md's
    /// Skylake local flush (2119 cycles for 1 page, 6791 for 10).
    pub local_invalidate_va_cycles: Cycle,
    /// Local invalidate-all (TLBI VMALLE1, CR3 write): 1600 cycles, the intercept of the same fit
    /// (2119 − 519), i.e. a flush without per-page work.
    pub local_invalidate_all_cycles: Cycle,
    /// Stall per broadcast TLBI a core receives: 1300 cycles, from ThunderX2's 39 → 49 ms slowdown
    /// by a sibling's mprotect() loop at ~1 TLBI per 3 µs and 2.1 GHz (`isolsim calibrate` checks it).
    pub broadcast_disturbance_cycles: Cycle,
}

impl Default for TlbConfig {
    fn default() -> Self {
        TlbConfig {
            page_bytes: 4096,
            levels: 4,
            pa_bits: 48,
            entries: 1536,
            ways: 12,
            walk_cycles_per_level: 12,
            local_invalidate_va_cycles: 519,
            local_invalidate_all_cycles: 1600,
            broadcast_disturbance_cycles: 1300,
        }
    }
}

impl TlbConfig {
    /// Checks that the parameters describe a buildable MMU: a power-of-two
    /// page of 4–64 KiB (AArch64's granules), 1 to [`MAX_LEVELS`] levels
    /// translating fewer than 64 bits, a physical address width between the
    /// page size and 48 bits, and a whole number of TLB sets.
    pub fn validate(&self) -> Result<(), Invalid> {
        let bad = |keys: &[&str], m: String| Err(Invalid::new(keys, m));
        if !self.page_bytes.is_power_of_two() || !(4096..=65536).contains(&self.page_bytes) {
            return bad(
                &["page_bytes"],
                format!("page_bytes = {} is not a power of two from 4096 to 65536", self.page_bytes),
            );
        }
        if !(1..=MAX_LEVELS as u32).contains(&self.levels) {
            return bad(&["levels"], format!("levels = {} is not in 1..={MAX_LEVELS}", self.levels));
        }
        let g = self.geometry();
        if g.va_bits >= 64 {
            return bad(
                &["levels", "page_bytes"],
                format!(
                    "{} levels of {}-byte pages translate {} bits (at most 63)",
                    self.levels, self.page_bytes, g.va_bits
                ),
            );
        }
        if self.pa_bits <= g.page_shift || self.pa_bits > 48 {
            return bad(&["pa_bits"], format!("pa_bits = {} is not in {}..=48", self.pa_bits, g.page_shift + 1));
        }
        if self.ways == 0 || self.entries == 0 || !self.entries.is_multiple_of(self.ways) {
            return bad(
                &["entries", "ways"],
                format!("entries = {} is not a positive multiple of ways = {}", self.entries, self.ways),
            );
        }
        if self.ways > u16::MAX as usize {
            return bad(&["ways"], format!("ways = {} is more than {}", self.ways, u16::MAX));
        }
        Ok(())
    }

    /// log2 of the page size.
    pub fn page_shift(&self) -> u32 {
        self.page_bytes.trailing_zeros()
    }

    /// Virtual address bits translated by the tables (48 by default).
    pub fn va_bits(&self) -> u32 {
        self.geometry().va_bits
    }

    /// The virtual page number of `va`.
    pub fn vpn(&self, va: Addr) -> Vpn {
        va >> self.page_shift()
    }

    /// Number of TLB sets.
    pub fn sets(&self) -> usize {
        self.entries / self.ways.max(1)
    }

    /// Cycles a walk that read `descriptors` descriptors costs at the fixed
    /// per-level figure (faulting walks read fewer).
    pub fn walk_cycles(&self, descriptors: usize) -> Cycle {
        self.walk_cycles_per_level * descriptors as Cycle
    }

    fn geometry(&self) -> Geometry {
        let page_shift = self.page_shift();
        let index_bits = page_shift.saturating_sub(3);
        Geometry {
            page_shift,
            index_bits,
            levels: self.levels,
            va_bits: page_shift + index_bits * self.levels,
            pa_bits: self.pa_bits,
        }
    }
}

/// Derived shape of the tables: each table is one page of 8-byte
/// descriptors, so it resolves `page_shift - 3` bits of the address.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    page_shift: u32,
    index_bits: u32,
    levels: u32,
    va_bits: u32,
    pa_bits: u32,
}

impl Geometry {
    fn index(&self, va: Addr, level: u32) -> u64 {
        let shift = self.page_shift + self.index_bits * (self.levels - 1 - level);
        (va >> shift) & ((1 << self.index_bits) - 1)
    }

    fn canonical(&self, va: Addr) -> bool {
        let top = va >> (self.va_bits - 1);
        top == 0 || top == u64::MAX >> (self.va_bits - 1)
    }

    fn pa_fits(&self, pa: Addr) -> bool {
        pa >> self.pa_bits == 0
    }

    fn page_mask(&self) -> u64 {
        (1 << self.page_shift) - 1
    }

    fn slot(&self, table: Addr, va: Addr, level: u32) -> Addr {
        table + self.index(va, level) * DESCRIPTOR_BYTES
    }
}

/// Permissions and the global flag of a page, as its leaf descriptor holds
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PageFlags {
    /// Accessible from user mode (AP\[1\] = 1); kernel mode may always access.
    pub user: bool,
    /// Writes are not permitted (AP\[2\] = 1).
    pub read_only: bool,
    /// Global: the translation is the same in every address space and its
    /// TLB entry matches any ASID (nG = 0). Kernel mappings are global.
    pub global: bool,
}

impl PageFlags {
    /// A kernel page: read-write, kernel only, global (as Linux maps its own
    /// text, data and vmalloc space).
    pub const KERNEL: PageFlags = PageFlags { user: false, read_only: false, global: true };
    /// A read-only kernel page (kernel text, rodata).
    pub const KERNEL_RO: PageFlags = PageFlags { user: false, read_only: true, global: true };
    /// A user page: read-write, accessible from user mode, tagged with an
    /// ASID.
    pub const USER: PageFlags = PageFlags { user: true, read_only: false, global: false };
    /// A read-only user page.
    pub const USER_RO: PageFlags = PageFlags { user: true, read_only: true, global: false };

    /// May an access from user mode (`user_mode`) or kernel mode, writing
    /// or not, use this page? A `false` is a permission fault for the
    /// caller to raise. (No PAN: the kernel may touch user pages.)
    pub fn allows(self, user_mode: bool, write: bool) -> bool {
        (!user_mode || self.user) && (!write || !self.read_only)
    }
}

/// One 64-bit translation-table descriptor; see the module docs for the
/// layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Descriptor(pub u64);

impl Descriptor {
    /// Bit 0: the descriptor is valid.
    pub const VALID: u64 = 1 << 0;
    /// Bit 1: a table (before the leaf level) or page (at it) descriptor.
    pub const TABLE_OR_PAGE: u64 = 1 << 1;
    /// Bit 6, AP\[1\]: accessible from user mode.
    pub const AP_USER: u64 = 1 << 6;
    /// Bit 7, AP\[2\]: read-only.
    pub const AP_READ_ONLY: u64 = 1 << 7;
    /// Bit 10, the access flag: set on every page made here so that values
    /// look like Linux's; walks do not check it (no access-flag faults).
    pub const AF: u64 = 1 << 10;
    /// Bit 11, nG: not global.
    pub const NOT_GLOBAL: u64 = 1 << 11;
    /// Bits 47:12: next-level table or output address.
    pub const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;
    /// The invalid descriptor (what unwritten memory reads as).
    pub const INVALID: Descriptor = Descriptor(0);

    /// A table descriptor pointing at the next-level table at `table`.
    ///
    /// # Panics
    /// If `table` is not 4 KiB-aligned or does not fit in 48 bits.
    pub fn table(table: Addr) -> Descriptor {
        assert_eq!(table & !Self::ADDR_MASK, 0, "table address {table:#x} not 4 KiB-aligned below 2^48");
        Descriptor(table | Self::VALID | Self::TABLE_OR_PAGE)
    }

    /// A page descriptor mapping to the physical page at `pa`.
    ///
    /// # Panics
    /// If `pa` is not 4 KiB-aligned or does not fit in 48 bits.
    pub fn page(pa: Addr, flags: PageFlags) -> Descriptor {
        assert_eq!(pa & !Self::ADDR_MASK, 0, "page address {pa:#x} not 4 KiB-aligned below 2^48");
        let mut d = pa | Self::VALID | Self::TABLE_OR_PAGE | Self::AF;
        if flags.user {
            d |= Self::AP_USER;
        }
        if flags.read_only {
            d |= Self::AP_READ_ONLY;
        }
        if !flags.global {
            d |= Self::NOT_GLOBAL;
        }
        Descriptor(d)
    }

    /// The valid bit.
    pub fn is_valid(self) -> bool {
        self.0 & Self::VALID != 0
    }

    /// Valid, with the table/page bit set: a table before the leaf level, a
    /// page at it.
    pub fn is_table_or_page(self) -> bool {
        self.0 & (Self::VALID | Self::TABLE_OR_PAGE) == Self::VALID | Self::TABLE_OR_PAGE
    }

    /// The next-level table or output address (bits 47:12).
    pub fn addr(self) -> Addr {
        self.0 & Self::ADDR_MASK
    }

    /// The page's permissions and global flag (meaningful for pages).
    pub fn flags(self) -> PageFlags {
        PageFlags {
            user: self.0 & Self::AP_USER != 0,
            read_only: self.0 & Self::AP_READ_ONLY != 0,
            global: self.0 & Self::NOT_GLOBAL == 0,
        }
    }
}

/// The descriptor addresses a walk read, root level first: at most
/// [`MAX_LEVELS`], stored inline so that a walk allocates nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct DescriptorReads {
    addrs: [Addr; MAX_LEVELS],
    len: u8,
}

impl DescriptorReads {
    fn push(&mut self, addr: Addr) {
        self.addrs[self.len as usize] = addr;
        self.len += 1;
    }

    /// The addresses, root level first.
    pub fn as_slice(&self) -> &[Addr] {
        &self.addrs[..self.len as usize]
    }
}

impl Deref for DescriptorReads {
    type Target = [Addr];
    fn deref(&self) -> &[Addr] {
        self.as_slice()
    }
}

impl fmt::Debug for DescriptorReads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice().iter().map(|a| format!("{a:#x}"))).finish()
    }
}

/// A successful translation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Walk {
    /// The physical address of the translated virtual address.
    pub pa: Addr,
    /// The leaf's permissions and global flag.
    pub flags: PageFlags,
    /// The leaf descriptor as read.
    pub leaf: Descriptor,
    /// Descriptor addresses read, one per level, root first; the last is the
    /// leaf's (where a program stores to unmap the page).
    pub reads: DescriptorReads,
}

impl Walk {
    /// The physical page number of the translation.
    pub fn ppn(&self, cfg: &TlbConfig) -> u64 {
        self.pa >> cfg.page_shift()
    }
}

/// Why a walk failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum FaultKind {
    /// The virtual address is not canonical: its bits above the translated
    /// range are not all equal to the top translated bit. Reported at level
    /// 0 with nothing read (AArch64: translation fault, level 0).
    VaOutOfRange,
    /// The descriptor's valid bit is clear (AArch64: translation fault at
    /// that level). Unmapped pages and missing tables fault this way.
    Invalid,
    /// A valid descriptor without the table/page bit: a block before the
    /// leaf level (not modelled) or a reserved encoding at it.
    Reserved,
    /// A table or output address, or the root, has bits set at or above
    /// `pa_bits` (AArch64: address size fault at that level).
    AddressSize,
}

/// A failed walk: where, why, and what it read before failing (a faulting
/// walk costs its reads too).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fault {
    /// The virtual address being translated.
    pub va: Addr,
    /// The level whose descriptor (or, for the root, table address) failed.
    pub level: u32,
    /// Why.
    pub kind: FaultKind,
    /// Descriptor addresses read, root first; for descriptor faults the last
    /// one is the faulting descriptor's.
    pub reads: DescriptorReads,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = match self.kind {
            FaultKind::VaOutOfRange => "address not canonical",
            FaultKind::Invalid => "invalid descriptor",
            FaultKind::Reserved => "reserved descriptor encoding",
            FaultKind::AddressSize => "address size",
        };
        write!(f, "translation of {:#x} failed at level {}: {why}", self.va, self.level)
    }
}

impl std::error::Error for Fault {}

/// Walks down to the leaf level: checks the address, reads the table
/// descriptor of every level before the leaf, and returns the reads and the
/// leaf table's address.
fn descend(
    cfg: &TlbConfig,
    root: Addr,
    va: Addr,
    read: &mut impl FnMut(Addr) -> u64,
) -> Result<(Geometry, DescriptorReads, Addr), Fault> {
    let g = cfg.geometry();
    debug_assert!(cfg.validate().is_ok(), "{:?}", cfg.validate());
    let mut reads = DescriptorReads::default();
    let fault = |level, kind, reads| Fault { va, level, kind, reads };
    if !g.canonical(va) {
        return Err(fault(0, FaultKind::VaOutOfRange, reads));
    }
    if !g.pa_fits(root) {
        return Err(fault(0, FaultKind::AddressSize, reads));
    }
    debug_assert_eq!(root & g.page_mask(), 0, "root table {root:#x} not page-aligned");
    let mut table = root;
    for level in 0..g.levels - 1 {
        let slot = g.slot(table, va, level);
        reads.push(slot);
        let d = Descriptor(read(slot));
        if !d.is_valid() {
            return Err(fault(level, FaultKind::Invalid, reads));
        }
        if !d.is_table_or_page() {
            return Err(fault(level, FaultKind::Reserved, reads));
        }
        if !g.pa_fits(d.addr()) {
            return Err(fault(level, FaultKind::AddressSize, reads));
        }
        table = d.addr() & !g.page_mask();
    }
    Ok((g, reads, table))
}

/// Translates `va` through the tables rooted at `root`, reading one
/// descriptor per level with `read` (typically `|a| mem.read(a).value`, or
/// a closure that also records the write each read observed).
///
/// Permissions are not checked here: the caller compares [`Walk::flags`]
/// with the access ([`PageFlags::allows`]).
pub fn walk(cfg: &TlbConfig, root: Addr, va: Addr, mut read: impl FnMut(Addr) -> u64) -> Result<Walk, Fault> {
    let (g, mut reads, table) = descend(cfg, root, va, &mut read)?;
    let level = g.levels - 1;
    let slot = g.slot(table, va, level);
    reads.push(slot);
    let leaf = Descriptor(read(slot));
    let kind = if !leaf.is_valid() {
        FaultKind::Invalid
    } else if !leaf.is_table_or_page() {
        FaultKind::Reserved
    } else if !g.pa_fits(leaf.addr()) {
        FaultKind::AddressSize
    } else {
        let pa = (leaf.addr() & !g.page_mask()) | (va & g.page_mask());
        return Ok(Walk { pa, flags: leaf.flags(), leaf, reads });
    };
    Err(Fault { va, level, kind, reads })
}

/// The address of `va`'s leaf descriptor in the tables rooted at `root`,
/// whether or not that descriptor is valid: where a program stores to map
/// or unmap the page. Fails like [`walk`] if a table before the leaf is
/// missing.
pub fn leaf_entry_addr(
    cfg: &TlbConfig,
    root: Addr,
    va: Addr,
    mut read: impl FnMut(Addr) -> u64,
) -> Result<Addr, Fault> {
    let (g, _, table) = descend(cfg, root, va, &mut read)?;
    Ok(g.slot(table, va, g.levels - 1))
}

/// Why the [`PageTableBuilder`] could not do what it was asked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PageTableError {
    /// The configuration does not validate.
    Config(String),
    /// The pool for tables is empty after page alignment, or extends beyond
    /// `pa_bits`.
    BadPool(Range<Addr>),
    /// The pool has no page left for another table.
    PoolExhausted,
    /// The virtual address is not canonical.
    VaOutOfRange(Addr),
    /// The address is not page-aligned.
    Misaligned(Addr),
    /// The physical address does not fit in `pa_bits`.
    PaOutOfRange(Addr),
    /// A descriptor on the way down is valid but not a table (a block, a
    /// reserved encoding, or out of range), so the builder will not descend
    /// or overwrite it.
    NotATable {
        /// Level of the descriptor.
        level: u32,
        /// Its address.
        addr: Addr,
        /// Its value.
        descriptor: Descriptor,
    },
}

impl fmt::Display for PageTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PageTableError::Config(e) => write!(f, "invalid TLB configuration: {e}"),
            PageTableError::BadPool(r) => {
                write!(f, "table pool {:#x}..{:#x} holds no aligned page within the physical range", r.start, r.end)
            }
            PageTableError::PoolExhausted => write!(f, "table pool exhausted"),
            PageTableError::VaOutOfRange(va) => write!(f, "virtual address {va:#x} is not canonical"),
            PageTableError::Misaligned(a) => write!(f, "address {a:#x} is not page-aligned"),
            PageTableError::PaOutOfRange(pa) => write!(f, "physical address {pa:#x} beyond pa_bits"),
            PageTableError::NotATable { level, addr, descriptor } => {
                write!(f, "descriptor {:#x} at {addr:#x} (level {level}) is not a table", descriptor.0)
            }
        }
    }
}

impl std::error::Error for PageTableError {}

/// Builds one address space's page tables in a [`FlatMemory`], allocating
/// table pages from a physical pool.
///
/// Its writes are *initial state* ([`FlatMemory::init`], written by
/// [`WriteId::INIT`](crate::types::WriteId::INIT)), not stores of any core:
/// build before the run. During a run, programs change descriptors with
/// ordinary stores at [`PageTableBuilder::leaf_entry_addr`], as kernel code
/// does. Freshly allocated tables read as all-invalid (the builder clears
/// any cell already set in the page). Tables are never freed, as the kernel
/// does not free them when it unmaps single pages. For several address
/// spaces, use one builder per address space, with disjoint pools.
#[derive(Clone, Debug)]
pub struct PageTableBuilder {
    cfg: TlbConfig,
    root: Addr,
    pool: Range<Addr>,
    next: Addr,
}

impl PageTableBuilder {
    /// A builder whose root table is the first page of `pool` (rounded up to
    /// a page boundary).
    pub fn new(cfg: &TlbConfig, pool: Range<Addr>, mem: &mut FlatMemory) -> Result<Self, PageTableError> {
        cfg.validate().map_err(|e| PageTableError::Config(e.message))?;
        let g = cfg.geometry();
        let start = pool.start.checked_add(g.page_mask()).map(|a| a & !g.page_mask());
        match start {
            Some(s) if s < pool.end && s.checked_add(cfg.page_bytes).is_some_and(|e| e <= pool.end) => {
                if !g.pa_fits(pool.end - 1) {
                    return Err(PageTableError::BadPool(pool));
                }
                let mut b = PageTableBuilder { cfg: cfg.clone(), root: s, pool: s..pool.end, next: s };
                b.root = b.alloc(mem)?;
                Ok(b)
            }
            _ => Err(PageTableError::BadPool(pool)),
        }
    }

    /// The root table's physical address (what TTBR0 / CR3 holds).
    pub fn root(&self) -> Addr {
        self.root
    }

    /// The configuration the tables are built for.
    pub fn config(&self) -> &TlbConfig {
        &self.cfg
    }

    /// The part of the pool holding tables so far.
    pub fn used(&self) -> Range<Addr> {
        self.pool.start..self.next
    }

    /// Number of table pages allocated, the root included.
    pub fn tables(&self) -> usize {
        ((self.next - self.pool.start) / self.cfg.page_bytes) as usize
    }

    fn alloc(&mut self, mem: &mut FlatMemory) -> Result<Addr, PageTableError> {
        let page = self.next;
        let end = page.checked_add(self.cfg.page_bytes).filter(|&e| e <= self.pool.end);
        let Some(end) = end else { return Err(PageTableError::PoolExhausted) };
        self.next = end;
        // Memory is sparse and reads 0 where unwritten: only cells someone
        // already set need clearing.
        let cells = mem.cells();
        let lo = cells.partition_point(|(a, _)| *a < page);
        let hi = cells.partition_point(|(a, _)| *a < end);
        let dirty: Vec<Addr> = cells[lo..hi].iter().filter(|(_, c)| c.value != 0).map(|(a, _)| *a).collect();
        for a in dirty {
            mem.init(a, 0);
        }
        Ok(page)
    }

    fn check_va(&self, va: Addr) -> Result<Geometry, PageTableError> {
        let g = self.cfg.geometry();
        if !g.canonical(va) {
            return Err(PageTableError::VaOutOfRange(va));
        }
        if va & g.page_mask() != 0 {
            return Err(PageTableError::Misaligned(va));
        }
        Ok(g)
    }

    /// The address of `va`'s leaf descriptor, creating missing tables on the
    /// way: prepares a page for a program to map with an ordinary store.
    pub fn ensure_leaf_entry(&mut self, mem: &mut FlatMemory, va: Addr) -> Result<Addr, PageTableError> {
        let g = self.check_va(va & !self.cfg.geometry().page_mask())?;
        let mut table = self.root;
        for level in 0..g.levels - 1 {
            let slot = g.slot(table, va, level);
            let d = Descriptor(mem.read(slot).value);
            table = if !d.is_valid() {
                let t = self.alloc(mem)?;
                mem.init(slot, Descriptor::table(t).0);
                t
            } else if d.is_table_or_page() && g.pa_fits(d.addr()) {
                d.addr() & !g.page_mask()
            } else {
                return Err(PageTableError::NotATable { level, addr: slot, descriptor: d });
            };
        }
        Ok(g.slot(table, va, g.levels - 1))
    }

    /// Maps the page at `va` to the physical page at `pa` (both page-aligned),
    /// replacing any earlier mapping of `va`; returns the leaf descriptor's
    /// address.
    pub fn map(&mut self, mem: &mut FlatMemory, va: Addr, pa: Addr, flags: PageFlags) -> Result<Addr, PageTableError> {
        let (slot, d) = self.leaf(mem, va, pa, flags)?;
        mem.init(slot, d);
        Ok(slot)
    }

    /// The leaf descriptor that maps `va` to `pa` and its address (the tables above it made).
    fn leaf(
        &mut self,
        mem: &mut FlatMemory,
        va: Addr,
        pa: Addr,
        flags: PageFlags,
    ) -> Result<(Addr, u64), PageTableError> {
        let g = self.check_va(va)?;
        if pa & g.page_mask() != 0 {
            return Err(PageTableError::Misaligned(pa));
        }
        if !g.pa_fits(pa) {
            return Err(PageTableError::PaOutOfRange(pa));
        }
        Ok((self.ensure_leaf_entry(mem, va)?, Descriptor::page(pa, flags).0))
    }

    /// Maps `pages` consecutive pages from `va` to consecutive physical pages
    /// from `pa`.
    pub fn map_range(
        &mut self,
        mem: &mut FlatMemory,
        va: Addr,
        pa: Addr,
        pages: u64,
        flags: PageFlags,
    ) -> Result<(), PageTableError> {
        // The leaf descriptors are set in one merge ([`FlatMemory::init_all`]): one at a time, each
        // would move every location above it, quadratic in a large layout. Those made before an
        // error are set too, as [`PageTableBuilder::map`] of each would have.
        let mut leaves = vec![];
        let r = (0..pages).try_for_each(|i| {
            let off = i * self.cfg.page_bytes;
            leaves.push(self.leaf(mem, va.wrapping_add(off), pa.wrapping_add(off), flags)?);
            Ok(())
        });
        mem.init_all(leaves);
        r
    }

    /// Unmaps the page at `va` (writes an invalid leaf descriptor); returns
    /// the descriptor it replaced, or `None` if nothing was mapped there.
    pub fn unmap(&mut self, mem: &mut FlatMemory, va: Addr) -> Result<Option<Descriptor>, PageTableError> {
        self.check_va(va)?;
        let Some(slot) = self.leaf_entry_addr(mem, va) else { return Ok(None) };
        let old = Descriptor(mem.read(slot).value);
        if !old.is_valid() {
            return Ok(None);
        }
        mem.init(slot, Descriptor::INVALID.0);
        Ok(Some(old))
    }

    /// The address of `va`'s leaf descriptor if the tables above it exist
    /// (see [`leaf_entry_addr`]); `None` otherwise.
    pub fn leaf_entry_addr(&self, mem: &FlatMemory, va: Addr) -> Option<Addr> {
        leaf_entry_addr(&self.cfg, self.root, va, |a| mem.read(a).value).ok()
    }

    /// Walks `va` in the current contents of `mem`.
    pub fn translate(&self, mem: &FlatMemory, va: Addr) -> Result<Walk, Fault> {
        walk(&self.cfg, self.root, va, |a| mem.read(a).value)
    }
}

/// What an invalidation removes. The same value goes to every
/// [`Tlb::invalidate`] it reaches and, once complete, to
/// [`InvalidationLog::complete`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Invalidation {
    /// One virtual page. With `Some(asid)` (TLBI VAE1, x86 INVLPG): that
    /// ASID's entries and global entries; with `None` (TLBI VAAE1): every
    /// ASID's entries.
    Page {
        /// The virtual page.
        vpn: Vpn,
        /// The ASID, or `None` for all.
        asid: Option<Asid>,
    },
    /// Every non-global entry of one ASID (TLBI ASIDE1).
    Asid(Asid),
    /// Everything (TLBI VMALLE1).
    All,
}

impl Invalidation {
    /// One page by virtual address.
    pub fn page(cfg: &TlbConfig, va: Addr, asid: Option<Asid>) -> Invalidation {
        Invalidation::Page { vpn: cfg.vpn(va), asid }
    }

    /// What a TLBI of `scope` with operand register value `operand` (ignored
    /// for `All`) invalidates, decoding the operand as AArch64 does: bits
    /// 43:0 hold VA\[55:12\] (sign-extended from VA bit 55, which covers both
    /// canonical halves), bits 63:48 the ASID. See [`tlbi_operand`].
    pub fn from_tlbi(cfg: &TlbConfig, scope: TlbiScope, operand: u64) -> Invalidation {
        let asid = (operand >> 48) as Asid;
        let va = ((((operand & ((1 << 44) - 1)) << 12) << 8) as i64 >> 8) as u64;
        match scope {
            TlbiScope::Va => Invalidation::page(cfg, va, Some(asid)),
            TlbiScope::VaAllAsids => Invalidation::page(cfg, va, None),
            TlbiScope::Asid => Invalidation::Asid(asid),
            TlbiScope::All => Invalidation::All,
        }
    }

    /// Does this invalidation remove an entry for (`vpn`, `asid`, `global`)?
    pub fn covers(self, vpn: Vpn, asid: Asid, global: bool) -> bool {
        match self {
            Invalidation::Page { vpn: v, asid: Some(a) } => v == vpn && (global || a == asid),
            Invalidation::Page { vpn: v, asid: None } => v == vpn,
            Invalidation::Asid(a) => !global && a == asid,
            Invalidation::All => true,
        }
    }
}

/// The TLBI operand register value for `va` and `asid`, as Linux's
/// `__TLBI_VADDR` builds it: VA\[55:12\] in bits 43:0, the ASID in bits
/// 63:48. [`Invalidation::from_tlbi`] decodes it.
pub fn tlbi_operand(va: Addr, asid: Asid) -> u64 {
    ((va >> 12) & ((1 << 44) - 1)) | (asid as u64) << 48
}

/// One cached translation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlbEntry {
    /// Virtual page number.
    pub vpn: Vpn,
    /// The ASID current when it was filled; ignored for matching if global.
    pub asid: Asid,
    /// Physical page number.
    pub ppn: u64,
    /// Permissions and the global flag.
    pub flags: PageFlags,
    /// When the translation was obtained. For the stale check, the cycle the
    /// walk read the leaf descriptor is the exact choice (see
    /// [`InvalidationLog`]); the fill cycle is as good when walks are charged
    /// as one event.
    pub filled_at: Cycle,
    /// Address of the leaf descriptor the walk read (to notice a later store
    /// to it: the entry then caches a translation memory no longer holds).
    pub leaf: Addr,
}

impl TlbEntry {
    /// The entry a successful walk of `va` under `asid` produces.
    pub fn from_walk(cfg: &TlbConfig, va: Addr, asid: Asid, walk: &Walk, filled_at: Cycle) -> TlbEntry {
        let leaf = walk.reads.last().copied().unwrap_or(0);
        TlbEntry { vpn: cfg.vpn(va), asid, ppn: walk.ppn(cfg), flags: walk.flags, filled_at, leaf }
    }

    /// Does a lookup of (`vpn`, `asid`) hit this entry?
    pub fn matches(&self, vpn: Vpn, asid: Asid) -> bool {
        self.vpn == vpn && (self.flags.global || self.asid == asid)
    }
}

/// A TLB hit: the translated address and the entry that gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlbHit {
    /// Physical address of the looked-up virtual address.
    pub pa: Addr,
    /// The entry (its `filled_at` is what the stale check needs).
    pub entry: TlbEntry,
}

/// Event counts of one TLB.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TlbStats {
    /// Lookups that hit.
    pub hits: u64,
    /// Lookups that missed.
    pub misses: u64,
    /// Entries filled.
    pub fills: u64,
    /// Entries evicted to make room for a fill (replacing an entry for the
    /// same translation is not an eviction).
    pub evictions: u64,
    /// Invalidation operations applied (each TLBI received, each local one).
    pub invalidations: u64,
    /// Entries those operations removed.
    pub entries_invalidated: u64,
}

/// One core's TLB: set-associative, keyed by (virtual page, ASID), global
/// entries matching any ASID, LRU within a set.
///
/// A set is kept in recency order (most recent first), which makes LRU
/// deterministic and the state canonical: two TLBs holding the same entries
/// with the same recency compare and hash equal, whatever happened before.
/// [`Eq`] and [`Hash`] ignore the statistics and the count of changes, which are history, not
/// state.
/// At most one entry matches any lookup: a fill first drops every entry a
/// lookup could confuse with it.
#[derive(Clone, Debug)]
pub struct Tlb {
    cfg: TlbConfig,
    page_shift: u32,
    sets: usize,
    ways: usize,
    /// `sets × ways` slots; set `s` holds `len[s]` entries from `s × ways`,
    /// most recently used first. Slots past `len[s]` are garbage.
    slots: Vec<TlbEntry>,
    len: Vec<u16>,
    stats: TlbStats,
    /// Counts changes to the entries or their order (history, like the statistics).
    changes: u64,
}

impl Tlb {
    /// An empty TLB.
    ///
    /// # Panics
    /// If `cfg` does not validate.
    pub fn new(cfg: &TlbConfig) -> Tlb {
        if let Err(e) = cfg.validate() {
            panic!("invalid TLB configuration: {e}");
        }
        let sets = cfg.sets();
        assert!(cfg.ways <= u16::MAX as usize, "at most {} ways", u16::MAX);
        Tlb {
            cfg: cfg.clone(),
            page_shift: cfg.page_shift(),
            sets,
            ways: cfg.ways,
            slots: vec![TlbEntry::default(); cfg.entries],
            len: vec![0; sets],
            stats: TlbStats::default(),
            changes: 0,
        }
    }

    /// The parameters.
    pub fn config(&self) -> &TlbConfig {
        &self.cfg
    }

    /// Event counts so far.
    pub fn stats(&self) -> &TlbStats {
        &self.stats
    }

    /// Zeroes the event counts.
    pub fn reset_stats(&mut self) {
        self.stats = TlbStats::default();
    }

    /// The set `vpn` maps to (low bits of the page number, as hardware
    /// indexes).
    pub fn set_of(&self, vpn: Vpn) -> usize {
        // A mask where the set count allows (a division costs more than the rest of a hit).
        if self.sets.is_power_of_two() {
            (vpn & (self.sets as u64 - 1)) as usize
        } else {
            (vpn % self.sets as u64) as usize
        }
    }

    fn set_range(&self, set: usize) -> Range<usize> {
        let base = set * self.ways;
        base..base + self.len[set] as usize
    }

    /// The entries of one set, most recently used first.
    pub fn set_entries(&self, set: usize) -> &[TlbEntry] {
        &self.slots[self.set_range(set)]
    }

    /// Every entry, set by set, most recently used first within a set.
    pub fn entries(&self) -> impl Iterator<Item = &TlbEntry> + '_ {
        (0..self.sets).flat_map(move |s| self.set_entries(s).iter())
    }

    /// Number of valid entries.
    pub fn len(&self) -> usize {
        self.len.iter().map(|&l| l as usize).sum()
    }

    /// True if the TLB holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len.iter().all(|&l| l == 0)
    }

    fn find(&self, vpn: Vpn, asid: Asid) -> Option<(usize, usize)> {
        let set = self.set_of(vpn);
        let r = self.set_range(set);
        self.slots[r.clone()].iter().position(|e| e.matches(vpn, asid)).map(|i| (set, r.start + i))
    }

    /// Looks `va` up under `asid`; a hit becomes the set's most recently
    /// used entry. Counts a hit or a miss.
    pub fn lookup(&mut self, va: Addr, asid: Asid) -> Option<TlbHit> {
        let vpn = va >> self.page_shift;
        match self.find(vpn, asid) {
            Some((set, i)) => Some(self.use_entry(set, i, va)),
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// [`Tlb::lookup`] of a hit that `accept` takes; nothing at all (not even a count) if it is
    /// a miss or `accept` refuses the hit.
    pub fn lookup_hit_if(&mut self, va: Addr, asid: Asid, accept: impl FnOnce(&TlbHit) -> bool) -> Option<TlbHit> {
        let (set, i) = self.find(va >> self.page_shift, asid)?;
        let entry = self.slots[i];
        let hit = TlbHit { pa: (entry.ppn << self.page_shift) | (va & ((1 << self.page_shift) - 1)), entry };
        accept(&hit).then(|| self.use_entry(set, i, va))
    }

    /// Counts the changes to the entries and their order since the TLB was made. While it stays
    /// the same, a lookup that hit an entry would hit it again and move nothing (the hit made it
    /// its set's most recently used): what lets a caller that remembers its last hit skip the
    /// search ([`Tlb::count_hit`]).
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Counts a hit that, as [`Tlb::changes`] shows, is the one the caller remembers: the
    /// same as that [`Tlb::lookup`], without the search.
    pub fn count_hit(&mut self) {
        self.stats.hits += 1;
    }

    /// Sets the hits counted back to `hits` (undoing [`Tlb::count_hit`]s of a speculative run
    /// that is rolled back).
    pub fn set_hits(&mut self, hits: u64) {
        self.stats.hits = hits;
    }

    /// Slot `i` of `set` hits: it becomes the set's most recently used entry.
    fn use_entry(&mut self, set: usize, i: usize, va: Addr) -> TlbHit {
        let base = set * self.ways;
        if i != base {
            self.slots[base..=i].rotate_right(1);
            self.changes += 1;
        }
        self.stats.hits += 1;
        let entry = self.slots[base];
        TlbHit { pa: (entry.ppn << self.page_shift) | (va & ((1 << self.page_shift) - 1)), entry }
    }

    /// The entry a lookup of `va` under `asid` would hit, without touching
    /// recency or counts (for checkers and tests).
    pub fn peek(&self, va: Addr, asid: Asid) -> Option<&TlbEntry> {
        self.find(va >> self.page_shift, asid).map(|(_, i)| &self.slots[i])
    }

    /// Inserts `entry` as its set's most recently used, after dropping every
    /// entry for the same page that a lookup could also hit (same ASID, or
    /// either one global). Returns the least recently used entry if the set
    /// was full and one had to be evicted.
    pub fn fill(&mut self, entry: TlbEntry) -> Option<TlbEntry> {
        let set = self.set_of(entry.vpn);
        self.remove_in_set(set, |e| {
            e.vpn == entry.vpn && (e.flags.global || entry.flags.global || e.asid == entry.asid)
        });
        self.stats.fills += 1;
        self.changes += 1;
        let base = set * self.ways;
        let len = self.len[set] as usize;
        if len < self.ways {
            self.slots[base + len] = entry;
            self.len[set] += 1;
            self.slots[base..=base + len].rotate_right(1);
            None
        } else {
            let last = base + self.ways - 1;
            let old = std::mem::replace(&mut self.slots[last], entry);
            self.slots[base..=last].rotate_right(1);
            self.stats.evictions += 1;
            Some(old)
        }
    }

    /// Fills the translation of a successful walk of `va` under `asid`,
    /// obtained at `filled_at`. Returns the evicted entry, if any.
    pub fn fill_walk(&mut self, va: Addr, asid: Asid, walk: &Walk, filled_at: Cycle) -> Option<TlbEntry> {
        let entry = TlbEntry::from_walk(&self.cfg, va, asid, walk, filled_at);
        self.fill(entry)
    }

    /// Removes, keeping the order of the rest, the entries of `set` that
    /// `pred` selects; returns how many.
    fn remove_in_set(&mut self, set: usize, mut pred: impl FnMut(&TlbEntry) -> bool) -> usize {
        let r = self.set_range(set);
        let mut w = r.start;
        for i in r.clone() {
            if !pred(&self.slots[i]) {
                self.slots[w] = self.slots[i];
                w += 1;
            }
        }
        self.len[set] = (w - r.start) as u16;
        r.end - w
    }

    /// Applies one invalidation (a local TLBI, or a broadcast one this core
    /// received); returns the number of entries removed.
    pub fn invalidate(&mut self, inv: Invalidation) -> usize {
        let removed = match inv {
            Invalidation::Page { vpn, .. } => {
                let set = self.set_of(vpn);
                self.remove_in_set(set, |e| inv.covers(e.vpn, e.asid, e.flags.global))
            }
            Invalidation::All => {
                let n = self.len();
                self.len.iter_mut().for_each(|l| *l = 0);
                n
            }
            Invalidation::Asid(_) => {
                (0..self.sets).map(|s| self.remove_in_set(s, |e| inv.covers(e.vpn, e.asid, e.flags.global))).sum()
            }
        };
        self.stats.invalidations += 1;
        self.stats.entries_invalidated += removed as u64;
        self.changes += 1;
        removed
    }

    /// Invalidates the page of `va`: for `Some(asid)` that ASID's entry and
    /// a global one (TLBI VAE1, INVLPG), for `None` every ASID's (TLBI VAAE1).
    pub fn invalidate_va(&mut self, va: Addr, asid: Option<Asid>) -> usize {
        self.invalidate(Invalidation::Page { vpn: va >> self.page_shift, asid })
    }

    /// Invalidates the non-global entries of `asid` (TLBI ASIDE1).
    pub fn invalidate_asid(&mut self, asid: Asid) -> usize {
        self.invalidate(Invalidation::Asid(asid))
    }

    /// Invalidates everything (TLBI VMALLE1).
    pub fn invalidate_all(&mut self) -> usize {
        self.invalidate(Invalidation::All)
    }
}

impl PartialEq for Tlb {
    fn eq(&self, other: &Self) -> bool {
        self.cfg == other.cfg && (0..self.sets).all(|s| self.set_entries(s) == other.set_entries(s))
    }
}
impl Eq for Tlb {}

impl std::hash::Hash for Tlb {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for s in 0..self.sets {
            self.set_entries(s).hash(state);
        }
    }
}

/// When invalidations completed, machine-wide: the record a checker
/// consults to tell whether a translation a core uses was already declared
/// gone.
///
/// For each kind of coverage it keeps only the latest completion, in hash
/// maps that are only ever looked up, never iterated, so nothing depends on
/// their order. Completions should be recorded when they happen (in
/// simulated-time order); questions are then answered as of "now".
///
/// An entry is stale if a covering invalidation completed *strictly after*
/// `filled_at`. With `filled_at` the cycle the walk read the leaf
/// descriptor, that is exact: the page-table store precedes the TLBI that
/// precedes the completion, and storage is multi-copy atomic, so a read in
/// the completion's cycle or later already sees the new descriptor. With the
/// fill cycle instead, a walk that read the old descriptor and filled in the
/// very cycle of the completion passes unflagged; charge walks so that this
/// cannot happen, or pass the read cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InvalidationLog {
    /// Any page invalidation of the page: covers its global entries.
    page_any: FxHashMap<Vpn, Cycle>,
    /// All-ASID page invalidations: cover every entry of the page.
    page_all_asids: FxHashMap<Vpn, Cycle>,
    /// Single-ASID page invalidations: cover that ASID's entry of the page.
    page_asid: FxHashMap<(Vpn, Asid), Cycle>,
    /// Whole-ASID invalidations: cover that ASID's non-global entries.
    asid: FxHashMap<Asid, Cycle>,
    /// Latest flush-all completion.
    all: Option<Cycle>,
    completions: u64,
}

fn raise(slot: &mut Cycle, at: Cycle) {
    *slot = (*slot).max(at);
}

impl InvalidationLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `inv` completed machine-wide at cycle `at`.
    pub fn complete(&mut self, inv: Invalidation, at: Cycle) {
        self.completions += 1;
        match inv {
            Invalidation::Page { vpn, asid } => {
                raise(self.page_any.entry(vpn).or_insert(at), at);
                match asid {
                    Some(a) => raise(self.page_asid.entry((vpn, a)).or_insert(at), at),
                    None => raise(self.page_all_asids.entry(vpn).or_insert(at), at),
                }
            }
            Invalidation::Asid(a) => raise(self.asid.entry(a).or_insert(at), at),
            Invalidation::All => raise(self.all.get_or_insert(at), at),
        }
    }

    /// The latest completion of an invalidation covering an entry for
    /// (`vpn`, `asid`, `global`), if there was one.
    pub fn last_covering(&self, vpn: Vpn, asid: Asid, global: bool) -> Option<Cycle> {
        let mut latest = self.all;
        let mut see = |t: Option<&Cycle>| {
            if let Some(&t) = t {
                latest = Some(latest.map_or(t, |l| l.max(t)));
            }
        };
        if global {
            see(self.page_any.get(&vpn));
        } else {
            see(self.page_all_asids.get(&vpn));
            see(self.page_asid.get(&(vpn, asid)));
            see(self.asid.get(&asid));
        }
        latest
    }

    /// If the entry is stale, the (latest) completion that made it so: a
    /// covering invalidation that completed after `filled_at`.
    pub fn stale_since(&self, filled_at: Cycle, vpn: Vpn, asid: Asid, global: bool) -> Option<Cycle> {
        self.last_covering(vpn, asid, global).filter(|&t| t > filled_at)
    }

    /// True if an invalidation covering an entry for (`vpn`, `asid`,
    /// `global`) filled at `filled_at` completed after that fill: the core
    /// is using a translation the system believed gone.
    pub fn is_stale(&self, filled_at: Cycle, vpn: Vpn, asid: Asid, global: bool) -> bool {
        self.stale_since(filled_at, vpn, asid, global).is_some()
    }

    /// [`InvalidationLog::is_stale`] for a TLB entry.
    pub fn is_entry_stale(&self, entry: &TlbEntry) -> bool {
        self.is_stale(entry.filled_at, entry.vpn, entry.asid, entry.flags.global)
    }

    /// Number of completions recorded.
    pub fn completions(&self) -> u64 {
        self.completions
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::WriteId;

    const POOL: Range<Addr> = 0x10_0000..0x20_0000;

    fn small(entries: usize, ways: usize) -> TlbConfig {
        TlbConfig { entries, ways, ..TlbConfig::default() }
    }

    fn entry(vpn: Vpn, asid: Asid, global: bool, filled_at: Cycle) -> TlbEntry {
        let flags = PageFlags { user: !global, read_only: false, global };
        TlbEntry { vpn, asid, ppn: vpn + 0x1000, flags, filled_at, leaf: 0 }
    }

    #[test]
    fn the_default_configuration_is_valid_and_has_the_documented_shape() {
        let cfg = TlbConfig::default();
        assert_eq!(cfg.validate(), Ok(()));
        assert_eq!((cfg.page_shift(), cfg.va_bits(), cfg.sets()), (12, 48, 128));
        assert_eq!(cfg.walk_cycles(4), 48);
        // The local-flush defaults reproduce both Skylake figures.
        assert_eq!(cfg.local_invalidate_all_cycles + cfg.local_invalidate_va_cycles, 2119);
        assert!((cfg.local_invalidate_all_cycles + 10 * cfg.local_invalidate_va_cycles).abs_diff(6791) < 10);
        for bad in [
            TlbConfig { page_bytes: 3000, ..cfg.clone() },
            TlbConfig { levels: 0, ..cfg.clone() },
            TlbConfig { levels: 6, ..cfg.clone() },
            TlbConfig { page_bytes: 65536, levels: 4, ..cfg.clone() },
            TlbConfig { pa_bits: 52, ..cfg.clone() },
            TlbConfig { entries: 100, ways: 12, ..cfg.clone() },
            TlbConfig { ways: 0, ..cfg.clone() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
        assert_eq!(TlbConfig { levels: 5, ..cfg.clone() }.va_bits(), 57);
        assert_eq!(TlbConfig { page_bytes: 65536, levels: 3, ..cfg }.validate(), Ok(()));
    }

    #[test]
    fn descriptors_round_trip_with_the_documented_bits() {
        for pa in [0, 0x1000, 0x1234_5678_9000, 0xffff_ffff_f000] {
            for bits in 0..8u8 {
                let flags = PageFlags { user: bits & 1 != 0, read_only: bits & 2 != 0, global: bits & 4 != 0 };
                let d = Descriptor::page(pa, flags);
                assert!(d.is_valid() && d.is_table_or_page());
                assert_eq!((d.addr(), d.flags()), (pa, flags));
            }
            let t = Descriptor::table(pa);
            assert_eq!(t.0, pa | 0b11);
            assert_eq!(t.addr(), pa);
        }
        // A Linux-like user page: valid, page, AP[1], AF, nG.
        assert_eq!(Descriptor::page(0x4000_0000, PageFlags::USER).0, 0x4000_0000 | 0b11 | 1 << 6 | 1 << 10 | 1 << 11);
        assert_eq!(Descriptor::page(0x4000_0000, PageFlags::KERNEL_RO).0, 0x4000_0000 | 0b11 | 1 << 7 | 1 << 10);
        assert!(!Descriptor::INVALID.is_valid());
        assert!(Descriptor(0b01).is_valid() && !Descriptor(0b01).is_table_or_page());
        assert!(!Descriptor(0b10).is_table_or_page());
    }

    #[test]
    fn permissions_follow_the_access_kind() {
        assert!(PageFlags::USER.allows(true, true));
        assert!(!PageFlags::USER_RO.allows(true, true) && PageFlags::USER_RO.allows(true, false));
        assert!(!PageFlags::KERNEL.allows(true, false) && PageFlags::KERNEL.allows(false, true));
        assert!(!PageFlags::KERNEL_RO.allows(false, true));
    }

    #[test]
    fn a_four_level_walk_through_builder_tables_reads_one_descriptor_per_level() {
        let cfg = TlbConfig::default();
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&cfg, POOL, &mut mem).unwrap();
        assert_eq!(b.root(), POOL.start);
        let va = 0x0000_7fff_1234_5000;
        let leaf = b.map(&mut mem, va, 0x4000_0000, PageFlags::USER).unwrap();
        assert_eq!(b.tables(), 4, "root plus one table per lower level");
        let w = b.translate(&mem, va + 0x678).unwrap();
        assert_eq!(w.pa, 0x4000_0678);
        assert_eq!(w.flags, PageFlags::USER);
        assert_eq!(w.ppn(&cfg), 0x4_0000);
        // One read per level, each in the right table at the VA's index.
        let idx = |l: u32| (va >> (12 + 9 * (3 - l))) & 511;
        assert_eq!(w.reads.len(), 4);
        assert_eq!(w.reads[0], b.root() + idx(0) * 8);
        let mut table = b.root();
        for (l, &r) in w.reads.iter().enumerate() {
            assert_eq!(r, table + idx(l as u32) * 8, "level {l}");
            table = Descriptor(mem.read(r).value).addr();
        }
        assert_eq!(w.reads[3], leaf);
        assert_eq!(b.leaf_entry_addr(&mem, va), Some(leaf));
        assert_eq!(Descriptor(mem.read(leaf).value), w.leaf);
        assert!(POOL.contains(&w.reads[3]) && b.used().contains(&w.reads[3]));

        // A neighbouring page shares all tables; a kernel (upper-half) page
        // takes the upper half of the root.
        b.map(&mut mem, va + 0x1000, 0x5000_0000, PageFlags::USER_RO).unwrap();
        assert_eq!(b.tables(), 4);
        let kva = 0xffff_8000_0000_2000;
        b.map(&mut mem, kva, 0x6000_0000, PageFlags::KERNEL).unwrap();
        assert_eq!(b.tables(), 7);
        let kw = walk(&cfg, b.root(), kva + 8, |a| mem.read(a).value).unwrap();
        assert_eq!((kw.pa, kw.flags), (0x6000_0008, PageFlags::KERNEL));
        assert_eq!(kw.reads[0], b.root() + 256 * 8);
        assert_eq!(b.translate(&mem, va + 0x1000).unwrap().flags, PageFlags::USER_RO);
        // Remapping replaces the leaf.
        b.map(&mut mem, va, 0x7000_0000, PageFlags::USER).unwrap();
        assert_eq!(b.translate(&mem, va).unwrap().pa, 0x7000_0000);
    }

    #[test]
    fn walks_fault_at_the_level_of_the_missing_or_bad_descriptor() {
        let cfg = TlbConfig::default();
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&cfg, POOL, &mut mem).unwrap();
        let va: Addr = 0x0000_1234_5678_9000;
        b.map(&mut mem, va, 0x4000_0000, PageFlags::USER).unwrap();
        // Differ from `va` in the index of one level: the walk shares the
        // tables above it and finds an invalid descriptor at that level.
        for level in 0..4u32 {
            let other = va ^ (1 << (12 + 9 * (3 - level)));
            let f = b.translate(&mem, other).unwrap_err();
            assert_eq!((f.level, f.kind, f.va), (level, FaultKind::Invalid, other), "level {level}");
            assert_eq!(f.reads.len(), level as usize + 1);
            assert_eq!(&f.reads[..level as usize], &b.translate(&mem, va).unwrap().reads[..level as usize]);
        }
        // Unmapping with the builder, then with a program's ordinary store.
        assert_eq!(b.unmap(&mut mem, va).unwrap(), Some(Descriptor::page(0x4000_0000, PageFlags::USER)));
        assert_eq!(b.unmap(&mut mem, va).unwrap(), None);
        assert_eq!(b.translate(&mem, va).unwrap_err().level, 3);
        let slot = b.ensure_leaf_entry(&mut mem, va).unwrap();
        mem.write(slot, Descriptor::page(0x9000, PageFlags::USER).0, WriteId { tid: 0, iid: 1 });
        assert_eq!(b.translate(&mem, va).unwrap().pa, 0x9000);
        mem.write(slot, 0, WriteId { tid: 0, iid: 2 });
        assert_eq!(b.translate(&mem, va).unwrap_err().kind, FaultKind::Invalid);
        assert_eq!(leaf_entry_addr(&cfg, b.root(), va, |a| mem.read(a).value), Ok(slot));
        assert_eq!(b.leaf_entry_addr(&mem, 0x7000_0000_0000).map(|_| ()), None);

        // Reserved encodings: a block before the leaf, 0b01 at the leaf.
        let l1_slot = b.translate(&mem, va).unwrap_err().reads[1];
        let l1 = mem.read(l1_slot).value;
        mem.init(l1_slot, 0x8000_0000 | 0b01);
        let f = b.translate(&mem, va).unwrap_err();
        assert_eq!((f.level, f.kind, f.reads.len()), (1, FaultKind::Reserved, 2));
        mem.init(l1_slot, l1);
        mem.init(slot, 0x9000 | 0b01);
        assert_eq!(b.translate(&mem, va).unwrap_err().kind, FaultKind::Reserved);
        assert!(b.map(&mut mem, va, 0x9000, PageFlags::USER).is_ok(), "a leaf can be overwritten");
        mem.init(l1_slot, 0x8000_0000 | 0b01);
        assert!(matches!(
            b.map(&mut mem, va, 0x9000, PageFlags::USER),
            Err(PageTableError::NotATable { level: 1, .. })
        ));
        mem.init(l1_slot, l1);

        // Non-canonical addresses fault before reading anything.
        let f = b.translate(&mem, 0x0001_0000_0000_0000).unwrap_err();
        assert_eq!((f.level, f.kind, f.reads.len()), (0, FaultKind::VaOutOfRange, 0));
        assert_eq!(
            b.map(&mut mem, 0x8000_0000_0000_0000, 0, PageFlags::USER),
            Err(PageTableError::VaOutOfRange(0x8000_0000_0000_0000))
        );
    }

    #[test]
    fn addresses_beyond_the_physical_range_are_address_size_faults() {
        let cfg = TlbConfig { pa_bits: 40, ..TlbConfig::default() };
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&cfg, POOL, &mut mem).unwrap();
        let va = 0x4000_0000;
        let leaf = b.map(&mut mem, va, 0x1000, PageFlags::KERNEL).unwrap();
        assert_eq!(b.map(&mut mem, va, 1 << 40, PageFlags::KERNEL), Err(PageTableError::PaOutOfRange(1 << 40)));
        mem.init(leaf, Descriptor::page(1 << 40, PageFlags::KERNEL).0);
        let f = b.translate(&mem, va).unwrap_err();
        assert_eq!((f.level, f.kind, f.reads.len()), (3, FaultKind::AddressSize, 4));
        let l2 = f.reads[2];
        mem.init(l2, Descriptor::table(1 << 41).0);
        let f = b.translate(&mem, va).unwrap_err();
        assert_eq!((f.level, f.kind), (2, FaultKind::AddressSize));
        let f = walk(&cfg, 1 << 40, va, |_| unreachable!()).unwrap_err();
        assert_eq!((f.level, f.kind, f.reads.len()), (0, FaultKind::AddressSize, 0));
    }

    #[test]
    fn the_builder_allocates_from_its_pool_and_clears_reused_memory() {
        let cfg = TlbConfig::default();
        let mut mem = FlatMemory::new();
        mem.init(0x10_2008, 0xdead_beef); // garbage where the first lower table will go
        let mut b = PageTableBuilder::new(&cfg, 0x10_0010..0x10_4000, &mut mem).unwrap();
        assert_eq!(b.root(), 0x10_1000, "pool start rounded up to a page");
        // Three pages: the root and two lower tables fit, the leaf table does not.
        assert_eq!(b.map(&mut mem, 0x1000, 0x2000, PageFlags::USER), Err(PageTableError::PoolExhausted));
        assert_eq!(mem.read(0x10_2008).value, 0, "allocated tables start all-invalid");
        assert_eq!((b.tables(), b.used()), (3, 0x10_1000..0x10_4000));
        assert!(b.translate(&mem, 0x1000).is_err());
        let mut b = PageTableBuilder::new(&cfg, 0x20_0000..0x20_4000, &mut mem).unwrap();
        b.map(&mut mem, 0x1000, 0x2000, PageFlags::USER).unwrap();
        assert_eq!(b.map(&mut mem, 0x40_0000_0000, 0x2000, PageFlags::USER), Err(PageTableError::PoolExhausted));
        assert!(matches!(PageTableBuilder::new(&cfg, 0x10_0010..0x10_1000, &mut mem), Err(PageTableError::BadPool(_))));
        assert_eq!(b.map(&mut mem, 0x1001, 0x2000, PageFlags::USER), Err(PageTableError::Misaligned(0x1001)));
        assert_eq!(b.map(&mut mem, 0x1000, 0x2001, PageFlags::USER), Err(PageTableError::Misaligned(0x2001)));
        b.map_range(&mut mem, 0x3000, 0x8000, 3, PageFlags::USER_RO).unwrap();
        assert_eq!(b.translate(&mem, 0x5004).unwrap().pa, 0xa004);
    }

    /// [`Tlb::changes`] moves with every fill, invalidation and reordering, and not with a hit on
    /// its set's most recent entry, a refused hit or a miss; [`Tlb::count_hit`] counts what that
    /// lookup would, and moves nothing. The count is history: it is not part of equality.
    #[test]
    fn changes_count_what_a_remembered_hit_rests_on() {
        let cfg = small(8, 2); // 4 sets of 2 ways
        let mut t = Tlb::new(&cfg);
        let va = |vpn: Vpn| vpn << 12;
        let mut last = t.changes();
        let mut moved = |t: &Tlb| {
            let m = t.changes() != last;
            last = t.changes();
            m
        };
        t.fill(entry(0, 1, false, 10));
        assert!(moved(&t));
        t.fill(entry(4, 1, false, 11));
        assert!(moved(&t));
        t.lookup(va(4), 1).unwrap();
        assert!(!moved(&t), "4 was its set's most recent entry");
        assert_eq!(t.lookup_hit_if(va(0), 1, |_| false), None);
        assert_eq!(t.lookup(va(12), 1), None);
        assert!(!moved(&t), "a refused hit and a miss");
        t.lookup(va(0), 1).unwrap();
        assert!(moved(&t), "0 moved to the front of its set");
        let mut plain = t.clone();
        plain.lookup(va(0), 1).unwrap();
        t.count_hit();
        assert_eq!((t.stats(), t.set_entries(0)), (plain.stats(), plain.set_entries(0)));
        assert!(!moved(&t));
        t.invalidate_va(va(9), Some(1));
        assert!(moved(&t), "every invalidation counts, even one that removes nothing");
        t.invalidate_all();
        assert!(moved(&t));
        assert_eq!(t, Tlb::new(&cfg));
    }

    #[test]
    fn lookups_fill_and_evict_lru_within_a_set() {
        let cfg = small(8, 2); // 4 sets of 2 ways
        let mut t = Tlb::new(&cfg);
        assert!(t.is_empty());
        let va = |vpn: Vpn| vpn << 12;
        assert_eq!(t.set_of(0), t.set_of(4));
        assert_ne!(t.set_of(0), t.set_of(1));
        assert_eq!(t.lookup(va(0), 1), None);
        assert_eq!(t.fill(entry(0, 1, false, 10)), None);
        assert_eq!(t.fill(entry(4, 1, false, 11)), None);
        assert_eq!(t.fill(entry(1, 1, false, 12)), None, "other set");
        // 4 is most recent; touching 0 makes 4 the LRU victim.
        let hit = t.lookup(va(0) + 0x123, 1).unwrap();
        assert_eq!((hit.pa, hit.entry.filled_at), (((0x1000) << 12) + 0x123, 10));
        assert_eq!(t.set_entries(0).iter().map(|e| e.vpn).collect::<Vec<_>>(), [0, 4]);
        assert_eq!(t.fill(entry(8, 1, false, 13)), Some(entry(4, 1, false, 11)));
        assert_eq!(t.set_entries(0).iter().map(|e| e.vpn).collect::<Vec<_>>(), [8, 0]);
        assert_eq!(t.lookup(va(4), 1), None);
        assert!(t.lookup(va(1), 1).is_some());
        assert_eq!(t.len(), 3);
        // peek changes nothing.
        let before = t.clone();
        assert_eq!(t.peek(va(0), 1).map(|e| e.vpn), Some(0));
        assert_eq!(t.set_entries(0), before.set_entries(0));
        assert_eq!(*t.stats(), TlbStats { hits: 2, misses: 2, fills: 4, evictions: 1, ..TlbStats::default() });
        // A hit refused, or a miss, through lookup_hit_if: nothing, not even a count; a hit taken:
        // what lookup does.
        assert_eq!(t.lookup_hit_if(va(0), 1, |_| false), None);
        assert_eq!(t.lookup_hit_if(va(4), 1, |_| true), None);
        assert_eq!((t.set_entries(0), t.stats()), (before.set_entries(0), before.stats()));
        let mut plain = t.clone();
        assert_eq!(t.lookup_hit_if(va(0) + 8, 1, |h| h.entry.vpn == 0), plain.lookup(va(0) + 8, 1));
        assert_eq!((t.set_entries(0), t.stats()), (plain.set_entries(0), plain.stats()));
        assert_eq!(t.set_entries(0).iter().map(|e| e.vpn).collect::<Vec<_>>(), [0, 8]);
        // Refilling the same translation replaces it rather than evicting.
        assert_eq!(t.fill(entry(0, 1, false, 20)), None);
        assert_eq!(t.set_entries(0).iter().map(|e| (e.vpn, e.filled_at)).collect::<Vec<_>>(), [(0, 20), (8, 13)]);
        assert_eq!(t.entries().count(), 3);
    }

    #[test]
    fn asids_separate_entries_and_global_entries_match_every_asid() {
        let mut t = Tlb::new(&small(16, 4));
        t.fill(entry(1, 1, false, 0));
        t.fill(entry(1, 2, false, 0));
        assert_eq!(t.len(), 2, "the same page in two address spaces");
        assert_eq!(t.lookup(1 << 12, 1).unwrap().entry.asid, 1);
        assert_eq!(t.lookup(1 << 12, 2).unwrap().entry.asid, 2);
        assert_eq!(t.lookup(1 << 12, 3), None);
        t.fill(entry(2, 1, true, 0));
        for asid in [0, 1, 7, Asid::MAX] {
            assert!(t.lookup(2 << 12, asid).is_some(), "global entry, ASID {asid}");
        }
        // A global fill for a page supersedes every ASID's entry, and a
        // non-global fill supersedes a global one: one match per lookup.
        t.fill(entry(1, 5, true, 1));
        assert_eq!(t.len(), 2);
        assert!(t.lookup(1 << 12, 1).unwrap().entry.flags.global);
        t.fill(entry(1, 3, false, 2));
        assert_eq!(t.lookup(1 << 12, 1), None);
        assert_eq!(t.lookup(1 << 12, 3).unwrap().entry.filled_at, 2);
    }

    #[test]
    fn each_invalidation_removes_exactly_what_it_covers() {
        let cfg = small(32, 4);
        let fresh = || {
            let mut t = Tlb::new(&cfg);
            for vpn in [1, 2] {
                t.fill(entry(vpn, 1, false, 0));
                t.fill(entry(vpn, 2, false, 0));
            }
            t.fill(entry(3, 1, true, 0));
            t
        };
        let keys = |t: &Tlb| {
            let mut k: Vec<_> =
                t.entries().map(|e| (e.vpn, if e.flags.global { None } else { Some(e.asid) })).collect();
            k.sort();
            k
        };
        type Left = &'static [(Vpn, Option<Asid>)];
        let cases: [(Invalidation, Left); 7] = [
            (Invalidation::Page { vpn: 1, asid: Some(1) }, &[(1, Some(2)), (2, Some(1)), (2, Some(2)), (3, None)]),
            (Invalidation::Page { vpn: 1, asid: None }, &[(2, Some(1)), (2, Some(2)), (3, None)]),
            // VAE1 removes a global entry whatever ASID it names.
            (Invalidation::Page { vpn: 3, asid: Some(9) }, &[(1, Some(1)), (1, Some(2)), (2, Some(1)), (2, Some(2))]),
            (Invalidation::Page { vpn: 3, asid: None }, &[(1, Some(1)), (1, Some(2)), (2, Some(1)), (2, Some(2))]),
            (Invalidation::Asid(1), &[(1, Some(2)), (2, Some(2)), (3, None)]),
            (Invalidation::Asid(9), &[(1, Some(1)), (1, Some(2)), (2, Some(1)), (2, Some(2)), (3, None)]),
            (Invalidation::All, &[]),
        ];
        for (inv, left) in cases {
            let mut t = fresh();
            let removed = t.invalidate(inv);
            assert_eq!(keys(&t), left, "{inv:?}");
            assert_eq!(removed, 5 - left.len(), "{inv:?}");
            assert_eq!((t.stats().invalidations, t.stats().entries_invalidated), (1, removed as u64));
        }
        let mut t = fresh();
        assert_eq!(t.invalidate_va((1 << 12) + 8, Some(2)), 1);
        assert_eq!(t.invalidate_va(2 << 12, None), 2);
        assert_eq!(t.invalidate_asid(1), 1);
        assert_eq!(t.invalidate_all(), 1);
        assert!(t.is_empty());
        assert_eq!(t.stats().invalidations, 4);
    }

    #[test]
    fn tlbi_operands_decode_as_on_aarch64() {
        let cfg = TlbConfig::default();
        for va in [0x0000_7fff_1234_5000u64, 0xffff_8000_0000_2000, 0x1000] {
            let op = tlbi_operand(va + 0x10, 42);
            assert_eq!(op >> 48, 42);
            assert_eq!(
                Invalidation::from_tlbi(&cfg, TlbiScope::Va, op),
                Invalidation::Page { vpn: va >> 12, asid: Some(42) }
            );
            assert_eq!(
                Invalidation::from_tlbi(&cfg, TlbiScope::VaAllAsids, op),
                Invalidation::Page { vpn: va >> 12, asid: None }
            );
        }
        assert_eq!(Invalidation::from_tlbi(&cfg, TlbiScope::Asid, 7 << 48), Invalidation::Asid(7));
        assert_eq!(Invalidation::from_tlbi(&cfg, TlbiScope::All, 0), Invalidation::All);
    }

    #[test]
    fn equal_contents_and_recency_compare_and_hash_equal_whatever_the_history() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash = |t: &Tlb| BuildHasherDefault::<rustc_hash::FxHasher>::default().hash_one(t);
        let cfg = small(8, 2);
        let mut a = Tlb::new(&cfg);
        let mut b = Tlb::new(&cfg);
        a.fill(entry(0, 1, false, 0));
        a.fill(entry(4, 1, false, 0));
        a.fill(entry(8, 1, false, 0)); // evicts 0
        b.fill(entry(9, 1, false, 0));
        b.invalidate_all();
        b.fill(entry(4, 1, false, 0));
        b.fill(entry(8, 1, false, 0));
        assert_eq!(a, b);
        assert_eq!(hash(&a), hash(&b));
        b.lookup(4 << 12, 1);
        assert_ne!(a, b, "recency is state");
    }

    #[test]
    fn the_log_flags_entries_filled_before_a_covering_completion() {
        let mut log = InvalidationLog::new();
        assert!(!log.is_stale(0, 1, 1, false));
        log.complete(Invalidation::Page { vpn: 1, asid: Some(1) }, 100);
        // Filled before the completion: stale; at or after: fresh.
        assert!(log.is_stale(99, 1, 1, false));
        assert_eq!(log.stale_since(50, 1, 1, false), Some(100));
        assert!(!log.is_stale(100, 1, 1, false));
        assert!(!log.is_stale(150, 1, 1, false));
        // Coverage: other ASIDs' entries survive VAE1, global ones do not.
        assert!(!log.is_stale(50, 1, 2, false));
        assert!(log.is_stale(50, 1, 2, true));
        assert!(!log.is_stale(50, 2, 1, false), "other page");
        log.complete(Invalidation::Page { vpn: 2, asid: None }, 200);
        assert!(log.is_stale(150, 2, 7, false) && log.is_stale(150, 2, 7, true));
        log.complete(Invalidation::Asid(3), 300);
        assert!(log.is_stale(250, 9, 3, false));
        assert!(!log.is_stale(250, 9, 3, true), "ASID invalidations spare global entries");
        assert!(!log.is_stale(250, 9, 4, false));
        // An earlier completion recorded late does not lower the latest.
        log.complete(Invalidation::Asid(3), 250);
        assert_eq!(log.stale_since(0, 9, 3, false), Some(300));
        log.complete(Invalidation::All, 400);
        assert!(log.is_stale(399, 12345, 77, true) && log.is_stale(399, 12345, 77, false));
        assert!(!log.is_stale(400, 12345, 77, true));
        assert_eq!(log.last_covering(1, 1, false), Some(400));
        assert_eq!(log.completions(), 5);
        assert!(log.is_entry_stale(&entry(1, 1, false, 399)));
        log.clear();
        assert_eq!(log, InvalidationLog::new());
    }

    #[test]
    fn a_skipped_core_keeps_a_translation_that_the_log_then_calls_stale() {
        // Core 0 unmaps a kernel page and broadcasts a TLBI that completes at
        // 250; core 1 received it, core 2 was skipped (deferred) and keeps
        // its entry, which the log flags when core 2 uses it.
        let cfg = small(64, 4);
        let mut mem = FlatMemory::new();
        let mut b = PageTableBuilder::new(&TlbConfig::default(), POOL, &mut mem).unwrap();
        let va = 0xffff_8000_0040_0000;
        let leaf = b.map(&mut mem, va, 0x8000, PageFlags::KERNEL).unwrap();
        let mut tlbs = [Tlb::new(&cfg), Tlb::new(&cfg), Tlb::new(&cfg)];
        for (core, t) in tlbs.iter_mut().enumerate() {
            let w = b.translate(&mem, va).unwrap();
            t.fill_walk(va, core as Asid, &w, 100 + core as Cycle);
        }
        mem.write(leaf, 0, WriteId { tid: 0, iid: 7 }); // the kernel's store
        let inv = Invalidation::from_tlbi(&cfg, TlbiScope::Va, tlbi_operand(va, 0));
        assert_eq!(tlbs[0].invalidate(inv) + tlbs[1].invalidate(inv), 2);
        let mut log = InvalidationLog::new();
        log.complete(inv, 250);
        let hit = tlbs[2].lookup(va, 2).expect("the skipped core still translates");
        assert_eq!(hit.pa, 0x8000);
        assert!(log.is_entry_stale(&hit.entry));
        // After its deferred flush at kernel entry it walks again and faults.
        tlbs[2].invalidate_all();
        assert_eq!(tlbs[2].lookup(va, 2), None);
        assert_eq!(b.translate(&mem, va).unwrap_err().kind, FaultKind::Invalid);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// The TLB agrees with a reference: per set, a recency-ordered list.
        #[test]
        fn the_tlb_matches_a_reference_lru_model(ops in proptest::collection::vec((0u8..4, 0u64..12, 0u16..3, proptest::bool::ANY), 1..200)) {
            let cfg = small(8, 2);
            let mut t = Tlb::new(&cfg);
            let mut reference: Vec<Vec<TlbEntry>> = vec![Vec::new(); cfg.sets()];
            let mut log = InvalidationLog::new();
            let mut done: Vec<(Invalidation, Cycle)> = Vec::new();
            for (now, &(op, vpn, asid, global)) in ops.iter().enumerate() {
                let now = now as Cycle;
                let set = &mut reference[(vpn % 4) as usize];
                match op {
                    0 => {
                        let got = t.lookup(vpn << 12, asid).map(|h| h.entry);
                        let pos = set.iter().position(|e| e.matches(vpn, asid));
                        let want = pos.map(|i| { let e = set.remove(i); set.insert(0, e); e });
                        proptest::prop_assert_eq!(got, want);
                        if let Some(e) = got {
                            let brute = done.iter().any(|&(inv, at)| at > e.filled_at && inv.covers(e.vpn, e.asid, e.flags.global));
                            proptest::prop_assert_eq!(log.is_entry_stale(&e), brute);
                        }
                    }
                    1 => {
                        let e = entry(vpn, asid, global, now);
                        set.retain(|o| !(o.vpn == vpn && (o.flags.global || global || o.asid == asid)));
                        set.insert(0, e);
                        let want = if set.len() > 2 { set.pop() } else { None };
                        proptest::prop_assert_eq!(t.fill(e), want);
                    }
                    _ => {
                        let inv = match (op, global) {
                            (2, false) => Invalidation::Page { vpn, asid: Some(asid) },
                            (2, true) => Invalidation::Page { vpn, asid: None },
                            (_, false) => Invalidation::Asid(asid),
                            (_, true) => Invalidation::All,
                        };
                        t.invalidate(inv);
                        for s in reference.iter_mut() {
                            s.retain(|e| !inv.covers(e.vpn, e.asid, e.flags.global));
                        }
                        log.complete(inv, now);
                        done.push((inv, now));
                    }
                }
                for (s, want) in reference.iter().enumerate() {
                    proptest::prop_assert_eq!(t.set_entries(s), want.as_slice());
                }
            }
        }
    }
}
