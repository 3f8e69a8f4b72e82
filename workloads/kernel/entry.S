// isolsim kernel, part 1 of 4: exception vectors, entry and exit, context
// tracking, system calls and the idle loop, in the shape of Linux's arm64
// entry code (arch/arm64/kernel/entry.S, kernel/entry/common.c).
//
// The kernel is four files assembled as one unit, in this order: entry.S,
// smp.S (the interrupt controller and cross-CPU calls), tlb.S (TLB
// maintenance), isolation.S (task isolation and its kicks), followed by a
// protocol file (workloads/protocols/*.S: the kernel entry and exit hooks,
// enter_from_user_mode and exit_to_user_mode, and the kick's decision).
// workloads::system::System loads it and defines NR_CPUS, PERCPU_BASE,
// PERCPU_SHIFT, CFD_BASE, CFD_SHIFT, CSD_SHIFT, SGI_TABLE and KERNEL_DATA,
// and from workloads::kernel::KernelConfig the lengths of the kernel code
// that runs as compute blocks rather than instruction by instruction
// (IRQ_ENTER_WORK, IRQ_EXIT_WORK, CALL_SETUP_WORK, ...) and the TLB_SCHEME.
//
// Calling convention (AAPCS64): arguments in X0-X7, X9-X15 scratch, X19-X28
// preserved by callees, X30 the return address. SP is the per-CPU kernel
// stack (SP_EL1); TPIDR_EL1 holds the CPU's per-CPU area, as in Linux.

        // Per-CPU variables (offsets in the per-CPU area).
        .equ  PCPU_CALL_QUEUE, 0x00     // call_single_queue: head of a list of csds
        // One line that other CPUs read (and, for ct-work, write):
        .equ  PCPU_CONTEXT, 0x40        // context tracking: CT_KERNEL or CT_USER, and ct work bits
        .equ  PCPU_ISOL_FLAGS, 0x48     // ll_isol_flags (isolation.S)
        .equ  PCPU_NOHZ_FULL, 0x50      // this CPU is in the nohz_full set (set at boot)
        .equ  PCPU_ISOL_WANTED, 0x80    // the task on this CPU asked for isolation
        .equ  PCPU_SINGLE, 0x88         // smp_call_function_single's one-CPU list
        .equ  PCPU_FLUSH_ARGS, 0xc0     // flush_tlb_kernel_range's (start, pages)
        .equ  PCPU_IPI_LIST, 0x100      // cfd->cpumask_ipi, as a list of CPU numbers
        .equ  PCPU_FLUSH_LIST, 0x900    // CPUs a TLB flush interrupts
        .equ  PCPU_KICK_LIST, 0x1100    // CPUs a kick interrupts

        .equ  CT_KERNEL, 0
        .equ  CT_USER, 1

        // ll_isol_flags (task isolation: isolation.S, protocols/deferred.S).
        .equ  ISOL_NONE, 0              // the task does not ask for isolation
        .equ  ISOL_REQUEST, 1           // it does: isolate at the next exit to user space
        .equ  ISOL_ISOLATED, 2          // isolated user code runs; kicks may skip this CPU
        .equ  ISOL_BROKEN, 3            // in the kernel after isolated user code

        // The context word (PCPU_CONTEXT): bit 0 is the state (CT_USER or
        // CT_KERNEL), the work bits sit above CT_WORK_SHIFT.
        .equ  CT_WORK_SHIFT, 4
        .equ  CT_WORK_SYNC, 1           // sync_core(): ISB, after a full barrier
        .equ  CT_WORK_TLBI, 2           // flush this CPU's kernel TLB entries
        .equ  CT_WORK_ALL, 3
        .equ  CT_STATE_AND_WORK, (CT_WORK_ALL << CT_WORK_SHIFT) | CT_USER

        // Kernel data that kicks protect (at KERNEL_DATA, one line each;
        // whoever builds the system initializes them).
        .equ  KDATA_STATIC_KEY, KERNEL_DATA          // a static key's state (0 or 1)
        .equ  KDATA_CPU_CACHE, KERNEL_DATA + 0x40    // cachep->cpu_cache: the per-CPU array in use
        .equ  KDATA_VMAP, KERNEL_DATA + 0x80         // address of a vmalloc'ed object, 0 if none

        // The line size DC CVAU / IC IVAU step by: the smallest the
        // configurations use (a larger line is only cleaned more than once).
        .equ  CACHE_LINE, 64

        // System call numbers (in X8, as on arm64).
        .equ  SYS_NOP, 0                // returns at once (the getpid() of benchmarks)
        .equ  SYS_ISOLATE, 1            // X0 = 1: this task wants isolation; 0: no longer
        .equ  SYS_PEEK, 2               // returns the kernel word at X0 (a kernel access
                                        // through kernel mappings, e.g. vmalloc memory)
        .equ  SYS_TOUCH, 3              // a system call that uses what kicks protect
                                        // (isolation.S: sys_touch)
        .equ  SYS_MPROTECT, 4           // X0 = user VA, X1 = its leaf descriptor's
                                        // address, X2 = ASID: flip the page's
                                        // write permission (sys_mprotect below)
        .equ  PTE_RDONLY, 0x80          // AP[2] of a page descriptor

        // struct pt_regs as kernel_entry saves it.
        .equ  S_X0, 0                   // X0..X29 at S_X0 + 8*n
        .equ  S_LR, 240
        .equ  S_ELR, 248
        .equ  S_SPSR, 256
        .equ  FRAME_SIZE, 272

// ---------------------------------------------------------------------------
// Exception vectors: VBAR_EL1 points here (2 KiB aligned, 0x80 per entry).
// Entries that nothing here expects run into UDF padding.
vectors:
        .org  0x200                     // current EL, SP_EL1: synchronous
        B     el1_sync
        .org  0x280                     // current EL, SP_EL1: IRQ
        B     el1_irq
        .org  0x400                     // lower EL (AArch64): synchronous
        B     el0_sync
        .org  0x480                     // lower EL (AArch64): IRQ
        B     el0_irq
        .org  0x800

// ---------------------------------------------------------------------------
// Entry and exit. kernel_entry saves the interrupted context on the kernel
// stack: the general registers, ELR_EL1 and SPSR_EL1 (so that exceptions
// can nest once interrupts are unmasked again). The caller has made room
// and saved X30.
kernel_entry:
        STR   X0, [SP, #S_X0 + 0]
        STR   X1, [SP, #S_X0 + 8]
        STR   X2, [SP, #S_X0 + 16]
        STR   X3, [SP, #S_X0 + 24]
        STR   X4, [SP, #S_X0 + 32]
        STR   X5, [SP, #S_X0 + 40]
        STR   X6, [SP, #S_X0 + 48]
        STR   X7, [SP, #S_X0 + 56]
        STR   X8, [SP, #S_X0 + 64]
        STR   X9, [SP, #S_X0 + 72]
        STR   X10, [SP, #S_X0 + 80]
        STR   X11, [SP, #S_X0 + 88]
        STR   X12, [SP, #S_X0 + 96]
        STR   X13, [SP, #S_X0 + 104]
        STR   X14, [SP, #S_X0 + 112]
        STR   X15, [SP, #S_X0 + 120]
        STR   X16, [SP, #S_X0 + 128]
        STR   X17, [SP, #S_X0 + 136]
        STR   X18, [SP, #S_X0 + 144]
        STR   X19, [SP, #S_X0 + 152]
        STR   X20, [SP, #S_X0 + 160]
        STR   X21, [SP, #S_X0 + 168]
        STR   X22, [SP, #S_X0 + 176]
        STR   X23, [SP, #S_X0 + 184]
        STR   X24, [SP, #S_X0 + 192]
        STR   X25, [SP, #S_X0 + 200]
        STR   X26, [SP, #S_X0 + 208]
        STR   X27, [SP, #S_X0 + 216]
        STR   X28, [SP, #S_X0 + 224]
        STR   X29, [SP, #S_X0 + 232]
        MRS   X21, ELR_EL1
        MRS   X22, SPSR_EL1
        STR   X21, [SP, #S_ELR]
        STR   X22, [SP, #S_SPSR]
        RET

// Restores what kernel_entry saved and returns from the exception.
kernel_exit:
        LDR   X21, [SP, #S_ELR]
        LDR   X22, [SP, #S_SPSR]
        MSR   ELR_EL1, X21
        MSR   SPSR_EL1, X22
        LDR   X0, [SP, #S_X0 + 0]
        LDR   X1, [SP, #S_X0 + 8]
        LDR   X2, [SP, #S_X0 + 16]
        LDR   X3, [SP, #S_X0 + 24]
        LDR   X4, [SP, #S_X0 + 32]
        LDR   X5, [SP, #S_X0 + 40]
        LDR   X6, [SP, #S_X0 + 48]
        LDR   X7, [SP, #S_X0 + 56]
        LDR   X8, [SP, #S_X0 + 64]
        LDR   X9, [SP, #S_X0 + 72]
        LDR   X10, [SP, #S_X0 + 80]
        LDR   X11, [SP, #S_X0 + 88]
        LDR   X12, [SP, #S_X0 + 96]
        LDR   X13, [SP, #S_X0 + 104]
        LDR   X14, [SP, #S_X0 + 112]
        LDR   X15, [SP, #S_X0 + 120]
        LDR   X16, [SP, #S_X0 + 128]
        LDR   X17, [SP, #S_X0 + 136]
        LDR   X18, [SP, #S_X0 + 144]
        LDR   X19, [SP, #S_X0 + 152]
        LDR   X20, [SP, #S_X0 + 160]
        LDR   X21, [SP, #S_X0 + 168]
        LDR   X22, [SP, #S_X0 + 176]
        LDR   X23, [SP, #S_X0 + 184]
        LDR   X24, [SP, #S_X0 + 192]
        LDR   X25, [SP, #S_X0 + 200]
        LDR   X26, [SP, #S_X0 + 208]
        LDR   X27, [SP, #S_X0 + 216]
        LDR   X28, [SP, #S_X0 + 224]
        LDR   X29, [SP, #S_X0 + 232]
        LDR   X30, [SP, #S_LR]
        ADD   SP, SP, #FRAME_SIZE
        ERET

el1_irq:
        SUB   SP, SP, #FRAME_SIZE
        STR   X30, [SP, #S_LR]
        BL    kernel_entry
        work  IRQ_ENTER_WORK             // irq_enter(), handle_domain_irq()
        BL    gic_handle_irq
        work  IRQ_EXIT_WORK              // irq_exit(): softirqs, nohz tick, RCU
        B     kernel_exit

el0_irq:
        SUB   SP, SP, #FRAME_SIZE
        STR   X30, [SP, #S_LR]
        BL    kernel_entry
        BL    enter_from_user_mode
        work  IRQ_ENTER_WORK
        BL    gic_handle_irq
        work  IRQ_EXIT_WORK
        BL    exit_to_user_mode
        B     kernel_exit

// Synchronous exceptions: SVC is the only one handled; anything else (an
// abort, an undefined instruction) stops the CPU in `unhandled`, a loop
// that the run's cycle limit reports.
el1_sync:
        SUB   SP, SP, #FRAME_SIZE
        STR   X30, [SP, #S_LR]
        BL    kernel_entry
        MRS   X9, ESR_EL1
        LSR   X9, X9, #26               // exception class
        CMP   X9, #0x15                 // SVC from AArch64
        B.NE  unhandled
        BL    do_syscall
        B     kernel_exit

el0_sync:
        SUB   SP, SP, #FRAME_SIZE
        STR   X30, [SP, #S_LR]
        BL    kernel_entry
        BL    enter_from_user_mode
        MSR   DAIFClr, #2                // local_daif_restore(DAIF_PROCCTX): system calls run with IRQs on
        MRS   X9, ESR_EL1
        LSR   X9, X9, #26
        CMP   X9, #0x15
        B.NE  unhandled
        BL    do_syscall
        MSR   DAIFSet, #2                // local_daif_mask() before the exit work
        BL    exit_to_user_mode
        B     kernel_exit

// A fault in the kernel (which takes none by design) parks the CPU with
// interrupts masked; the experiment reports the exception.
unhandled:
        MSR   DAIFSet, #2
        WFI
        B     unhandled

// do_syscall(): dispatch on X8 (the saved X0 is the first argument and
// the return value).
do_syscall:
        LDR   X0, [SP, #S_X0]
        CMP   X8, #SYS_ISOLATE
        B.EQ  sys_isolate
        CMP   X8, #SYS_PEEK
        B.EQ  sys_peek
        CMP   X8, #SYS_TOUCH
        B.EQ  sys_touch
        CMP   X8, #SYS_MPROTECT
        B.EQ  sys_mprotect
        RET
sys_peek:
        LDR   X0, [X0]
        STR   X0, [SP, #S_X0]
        RET

// sys_mprotect(X0 = VA, X1 = leaf descriptor address, X2 = ASID): one page
// of the caller's mm becomes read-only if it was writable and writable if
// it was read-only, then its stale translations go (flush_tlb_page, tlb.S).
// The VMA lookup, split and merge, the permission checks and the mmap_lock
// run as one compute block (MPROTECT_WORK); a real kernel also walks the
// tables to find the descriptor the caller names here.
sys_mprotect:
        work  MPROTECT_WORK
        LDR   X11, [SP, #S_X0 + 8]
        LDR   X10, [X11]
        EOR   X10, X10, #PTE_RDONLY
        STR   X10, [X11]
        LDR   X1, [SP, #S_X0 + 16]
        B     flush_tlb_page

// ret_to_user(X0 = user entry point): start user code at EL0 with
// interrupts enabled, as the return from execve() does.
ret_to_user:
        MSR   ELR_EL1, X0
        MSR   SPSR_EL1, XZR              // EL0t, DAIF clear
        BL    exit_to_user_mode
        ERET

// enter_from_user_mode() and exit_to_user_mode(), context tracking and the
// isolation hooks, are the protocol file's (workloads/protocols/*.S).

// ---------------------------------------------------------------------------
// The idle loop: interrupts on, wait for one, handle it, wait again.
cpu_idle:
        MSR   DAIFClr, #2
idle_wait:
        WFI
        B     idle_wait

