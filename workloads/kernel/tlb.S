// isolsim kernel, part 3 of 4: invalidating other CPUs' TLB entries after a
// kernel mapping changed (vfree(), vunmap(): flush_tlb_kernel_range()), in
// the three ways KernelConfig::tlb_scheme selects (symbol TLB_SCHEME):
//
//   TLB_IPI        x86's way: every other CPU gets an IPI whose handler
//                  invalidates locally and acknowledges; the sender waits.
//   TLB_BROADCAST  arm64's way: TLBI VAALE1IS per page, DSB ISH: the
//                  hardware reaches every CPU; nobody is interrupted, but
//                  each CPU is disturbed by each invalidation.
//   TLB_DEFERRED   the isolation proposals' way: a CPU the kick protocol
//                  lets the sender skip (isolation_defer_cpu in the
//                  protocol file: ISOLATED under deferred, a ct work bit
//                  set under ct-work) is not interrupted and flushes its
//                  whole TLB at its next kernel entry; the others get the
//                  IPI. Under the broadcast protocol nobody is skipped.
//
// The caller has already changed the page tables (stored the new
// descriptors).

        .equ  TLB_IPI, 0
        .equ  TLB_BROADCAST, 1
        .equ  TLB_DEFERRED, 2
        .equ  PAGE_SHIFT, 12

// flush_tlb_kernel_range(X0 = first VA, X1 = number of pages)
flush_tlb_kernel_range:
        SUB   SP, SP, #48
        STR   X30, [SP]
        STR   X19, [SP, #8]
        STR   X20, [SP, #16]
        STR   X21, [SP, #24]
        STR   X22, [SP, #32]
        STR   X23, [SP, #40]
        DSB   ISHST                      // the descriptor stores before any invalidation
        MOV   X9, #TLB_SCHEME
        CMP   X9, #TLB_BROADCAST
        B.EQ  flush_broadcast
        MRS   X19, TPIDR_EL1
        STR   X0, [X19, #PCPU_FLUSH_ARGS]
        STR   X1, [X19, #PCPU_FLUSH_ARGS + 8]
        SUB   X20, X19, #PERCPU_BASE
        LSR   X20, X20, #PERCPU_SHIFT    // this CPU
        ADD   X21, X19, #PCPU_FLUSH_LIST
        MOV   X22, #0                    // CPUs to interrupt
        MOV   X23, #0                    // cpu
flush_publish:
        BL    isolation_publish          // the protocol's smp_mb(): the descriptors before any CPU's state is read
flush_scan:
        CMP   X23, #NR_CPUS
        B.HS  flush_send
        CMP   X23, X20
        B.EQ  flush_skip
        MOV   X9, #TLB_SCHEME
        CMP   X9, #TLB_DEFERRED
        B.NE  flush_add
        MOV   X0, X23
        MOV   X1, #CT_WORK_TLBI
        BL    isolation_defer_cpu
flush_decided:
        CBNZ  X0, flush_skip
flush_add:
        STR   X23, [X21, X22, LSL #3]
        ADD   X22, X22, #1
flush_skip:
        ADD   X23, X23, #1
        B     flush_scan
flush_send:
        MOV   X0, X21
        MOV   X1, X22
        ADR   X2, do_flush_tlb_kernel_range
        ADD   X3, X19, #PCPU_FLUSH_ARGS
        MOV   X4, #1
        BL    smp_call_function_many
        ADD   X0, X19, #PCPU_FLUSH_ARGS
        BL    do_flush_tlb_kernel_range  // and this CPU's own TLB
        B     flush_done
flush_broadcast:
        LSR   X10, X0, #PAGE_SHIFT       // TLBI operand: VA[55:12]
flush_broadcast_page:
        CBZ   X1, flush_broadcast_sync
        TLBI  VAAE1IS, X10               // every CPU's TLB, every ASID
        ADD   X10, X10, #1
        SUB   X1, X1, #1
        B     flush_broadcast_page
flush_broadcast_sync:
        DSB   ISH                        // done everywhere
        ISB
flush_done:
        LDR   X23, [SP, #40]
        LDR   X22, [SP, #32]
        LDR   X21, [SP, #24]
        LDR   X20, [SP, #16]
        LDR   X19, [SP, #8]
        LDR   X30, [SP]
        ADD   SP, SP, #48
        RET

// do_flush_tlb_kernel_range(X0 = &(first VA, pages)): this CPU's TLB only
// (the IPI handler's work, and the sender's own part).
do_flush_tlb_kernel_range:
        LDR   X9, [X0]
        LDR   X10, [X0, #8]
        LSR   X9, X9, #PAGE_SHIFT
local_flush_page:
        CBZ   X10, local_flush_sync
        TLBI  VAAE1, X9
        ADD   X9, X9, #1
        SUB   X10, X10, #1
        B     local_flush_page
local_flush_sync:
        DSB   NSH
        ISB
        RET

// flush_tlb_page(X0 = user VA, X1 = ASID): a user mapping changed in an mm
// that runs on this CPU only (munmap, mprotect on a housekeeping process).
// arm64's flush_tlb_page() is TLBI VALE1IS + DSB ISH: the hardware reaches
// every CPU, isolated ones included, and each is disturbed. x86 interrupts
// only the CPUs in the mm's cpumask, which holds no other CPU here, and the
// deferring schemes keep such flushes local likewise, so they flush this
// CPU's TLB alone.
flush_tlb_page:
        LSL   X1, X1, #48
        LSR   X9, X0, #PAGE_SHIFT
        ORR   X9, X9, X1
        DSB   ISHST                      // the descriptor store before the invalidation
        MOV   X10, #TLB_SCHEME
        CMP   X10, #TLB_BROADCAST
        B.NE  flush_tlb_page_local
        TLBI  VALE1IS, X9
        DSB   ISH
        RET
flush_tlb_page_local:
        TLBI  VALE1, X9
        DSB   NSH
        RET
