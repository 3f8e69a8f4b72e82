// The harness `isolsim check` runs a protocol file in: the smallest system
// in which the seed's four orderings (and the exit race) can all happen.
//
//   CPU 0 (the sender, in the kernel)     CPU 1 (and 2): isolated user code
//   ---------------------------------     -------------------------------
//   text_poke: new instruction at          a user load, then a system call:
//     check_site, then flush_icache_range    enter_from_user_mode
//     (DC CVAU; DSB; IC IVAU; DSB; ISB)      read CHECK_DATA       (kernel data)
//   publish new data: CHECK_DATA = 2         run check_site        (patched text)
//   the kick: isolation_publish, then        exit_to_user_mode
//     isolation_defer_cpu for each CPU       ERET to user space
//
// The explorer takes every interleaving and reordering the memory model
// allows. The labels below are the ghost probes the verdict is judged on
// (workloads/src/verify/check/mod.rs): which CPU was where, in which order, and what
// its kernel accesses returned. An interrupted CPU is left alone: its IPI
// handler synchronizes it, which is the kick's job, not the protocol's.

        .equ  CHECK_DATA, KERNEL_DATA + 0x200   // published data: 1, then 2
        .equ  CHECK_USER, DATA_BASE             // a user variable of the isolated task
        .equ  check_halt, 0                     // outside all code: the thread is done

// CPU 0. X3 = the encoding of the new instruction (set by the loader).
check_sender:
        ADR   X2, check_site
        STR   W3, [X2]                   // text_poke()
        DC    CVAU, X2                   // flush_icache_range()
        DSB   ISH
        IC    IVAU, X2
        DSB   ISH
        ISB
        MOV   X9, #CHECK_DATA
        MOV   X10, #2
        STR   X10, [X9]                  // publish the new data
check_kick:                              // kick_all_cpus_sync() begins
        BL    isolation_publish
        MOV   X19, #1
check_next_cpu:
        MOV   X0, X19
        MOV   X1, #CT_WORK_SYNC
        BL    isolation_defer_cpu
check_decided:                           // X0 = 1: skip CPU X19; 0: interrupt it
        ADD   X19, X19, #1
        CMP   X19, #NR_CPUS
        B.LO  check_next_cpu
check_kick_done:                         // the kick returns
        MOV   X9, #check_halt
        BR    X9

// CPUs 1.. start here, at EL0.
check_user:
        MOV   X9, #CHECK_USER
        LDR   X8, [X9]                   // user code: when it runs is the explorer's choice
check_svc:
        SVC   #0
        MOV   X9, #check_halt
        BR    X9

// The EL0 synchronous vector (VBAR_EL1 = check_el0_sync - 0x400).
check_el0_sync:
        BL    enter_from_user_mode
        MOV   X9, #CHECK_DATA
check_data_read:
        LDR   X20, [X9]                  // kernel data the kick protects
check_site:
        MOV   X21, #1                    // patched to MOV X21, #2
        BL    exit_to_user_mode
check_eret:
        ERET
