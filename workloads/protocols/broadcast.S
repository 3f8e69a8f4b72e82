// isolsim protocol: broadcast (a stock kernel).
// @base broadcast
// @expect isolation-break
// @why The stock kernel is safe by interrupting every CPU: each kick and each
// @why IPI-based TLB flush reaches isolated user code, by design.
//
// kick_all_cpus_sync() interrupts every other CPU and waits; the kernel
// entry and exit only keep context tracking's state. Every kick and every
// IPI-based TLB flush reaches isolated user code: that is the noise the
// other protocols remove.
//
// A protocol file defines the six labels below; the rest of the kernel
// (workloads/kernel/*.S) and `isolsim check`'s harness call them. Its constants (PCPU_*, ISOL_*, CT_*)
// come from entry.S. Each function may use X0-X1 (arguments, result) and
// X9-X15; it must keep X19-X29 and SP, and return with RET.
//
//   enter_from_user_mode   every entry from EL0, before the kernel touches
//                          anything a kick may have changed (IRQs masked)
//   entry_hook_done        the instruction whose retirement ends the entry
//                          hook: the experiment checks the CPU's kernel
//                          accesses from here on
//   exit_to_user_mode      last before the return to EL0 (IRQs masked)
//   isolation_publish      the sender's step between what its caller
//                          published and the reads of other CPUs' state
//   isolation_defer_cpu    X0 = cpu, X1 = CT_WORK_* bits the CPU must run:
//                          returns X0 = 1 if the sender may skip the CPU
//                          (it synchronizes at its next kernel entry),
//                          0 if the CPU must be interrupted
//   isolation_ipi          X0 = CT_WORK_* bits: the IPI callback on a CPU
//                          the sender interrupted, which must leave it
//                          synchronized for them (run by `isolsim check`'s
//                          harness; the timed kernel's kicks call
//                          do_nothing and its IPI-based TLB flushes
//                          tlb.S's ranged flush, the same work)

enter_from_user_mode:
        MRS   X9, TPIDR_EL1
        STR   XZR, [X9, #PCPU_CONTEXT]   // CT_KERNEL
entry_hook_done:
        RET

exit_to_user_mode:
        MRS   X9, TPIDR_EL1
        MOV   X10, #CT_USER
        STR   X10, [X9, #PCPU_CONTEXT]
        RET

isolation_publish:
        DMB   ISH                        // smp_mb() before the IPIs
        RET

isolation_defer_cpu:
        MOV   X0, #0                     // nobody is skipped
        RET

// The callback of a kick's IPI on a CPU the sender interrupted (X0 = the
// CT_WORK_* bits): taking the interrupt and the ERET are context
// synchronization events, all CT_WORK_SYNC asks; a changed kernel mapping
// asks for the local TLB flush (x86's do_kernel_range_flush()).
isolation_ipi:
        AND   X9, X0, #CT_WORK_TLBI
        CBZ   X9, ipi_callback_done
        TLBI  VMALLE1
        DSB   NSH
        ISB
ipi_callback_done:
        RET
