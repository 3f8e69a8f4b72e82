// How an isolated task starts (EL1, on its nohz_full CPU, interrupts
// masked): it asks for isolation and returns to user space at `user_main`,
// the loop's entry. Assembled as one unit with the loop's file
// (isolated.S or oslat.S).

isolated_start:
        MRS   X10, TPIDR_EL1
        MOV   X9, #1
        STR   X9, [X10, #PCPU_NOHZ_FULL] // booted with nohz_full= this CPU
        MOV   X0, #1
        BL    sys_isolate
        ADR   X0, user_main
        B     ret_to_user
