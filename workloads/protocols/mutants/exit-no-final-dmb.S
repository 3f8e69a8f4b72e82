// Mutant of deferred: the exit to user space without the final barrier.
// @base deferred
// @expect isolation-break
// @why The ISOLATED store may stay in the store buffer after the return to
// @why user space: a sender reading the flag meanwhile sees BROKEN and
// @why interrupts a CPU that already runs isolated code. It is no safety
// @why violation: the flag says "in the kernel" longer than true, which only
// @why costs an IPI; it never says "isolated" too early, because a store
// @why cannot pass the exit path's earlier loads and stores to the kernel's
// @why data (their values are final before it retires).
// The functions it does not define come from deferred.S.

// exit_to_user_mode(): context tracking says "in user space", then
// task_isolation_exit_to_user_mode(): a task that still asks for isolation
// is isolated again; the barrier orders everything the kernel did before
// the flag.
exit_to_user_mode:
        MRS   X9, TPIDR_EL1
        MOV   X10, #CT_USER
        STR   X10, [X9, #PCPU_CONTEXT]
        LDR   X10, [X9, #PCPU_ISOL_FLAGS]
        CMP   X10, #ISOL_BROKEN
        B.NE  isol_exit_request
        LDR   X11, [X9, #PCPU_ISOL_WANTED]
        CBZ   X11, isol_exit_done
        MOV   X10, #ISOL_REQUEST
isol_exit_request:
        CMP   X10, #ISOL_REQUEST
        B.NE  isol_exit_done
        MOV   X10, #ISOL_ISOLATED
        STR   X10, [X9, #PCPU_ISOL_FLAGS]
isol_exit_done:
        RET
