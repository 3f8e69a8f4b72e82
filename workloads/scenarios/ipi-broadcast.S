// ipi-broadcast: CPU 0 calls smp_call_function_many(every CPU, remote_work, NULL, wait = 1)
// CALLS times and stores each call's duration at durations + 8 * i.
// Scenario and command: ipi-broadcast.toml.

broadcast:
        MOV   X19, #targets
        MOV   X9, #0
fill:                                   // targets[i] = i for every CPU
        STR   X9, [X19, X9, LSL #3]
        ADD   X9, X9, #1
        CMP   X9, #NR_CPUS
        B.LO  fill
        MOV   X20, #0                   // call number
call:
        MRS   X21, CNTVCT_EL0
        MOV   X0, #targets
        MOV   X1, #NR_CPUS
        ADR   X2, remote_work           // (a label of this program: ADR, not an immediate)
        MOV   X3, #0                    // info
        MOV   X4, #1                    // wait
        BL    smp_call_function_many
        MRS   X22, CNTVCT_EL0
        SUB   X22, X22, X21
        MOV   X9, #durations
        STR   X22, [X9, X20, LSL #3]
        ADD   X20, X20, #1
        CMP   X20, #CALLS
        B.LO  call
        B     broadcast_done            // run off the end: CPU 0 is done

// What every target runs in its IPI handler: WORK cycles of computation.
remote_work:
        work  WORK
        RET

broadcast_done:
