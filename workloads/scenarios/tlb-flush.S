// tlb-flush: scenario and commands in tlb-flush.toml. The user part (EL0) and the kernel
// parts share this page; the page is mapped for EL0.

// CPU 0, in the kernel: replace vbuf's page, flush, time the flush.
remapper:
        work  FLUSH_DELAY
        MOV   X19, #vbuf_pte
        LDR   X9, [X19]                 // the descriptor: keep its attributes, change the page
        MOV   X10, #page1
        EOR   X9, X9, X10
        MOV   X10, #page2
        ORR   X9, X9, X10
        STR   X9, [X19]
        MRS   X20, CNTVCT_EL0
        MOV   X0, #vbuf
        MOV   X1, #1
        BL    flush_tlb_kernel_range
        MRS   X21, CNTVCT_EL0
        SUB   X21, X21, X20
        MOV   X9, #results
        STR   X21, [X9]
        B     the_end

// CPU 2, in the kernel: use vbuf (its TLB now holds the translation), become a nohz_full
// CPU whose task asks for isolation, start the task in user space.
isolated_task:
        MOV   X9, #vbuf
        LDR   X9, [X9]
        MOV   X9, #1
        MRS   X10, TPIDR_EL1
        STR   X9, [X10, #PCPU_NOHZ_FULL] // what booting with nohz_full=2 does
        MOV   X0, #1
        BL    sys_isolate                // what SYS_ISOLATE does for a running task
        ADR   X0, user_loop
        B     ret_to_user

// CPU 2, in user space: poll, then one system call that reads vbuf in the kernel.
user_loop:
        MOV   X19, #USER_LOOPS
user_next:
        work  LOOP_WORK
        SUB   X19, X19, #1
        CBNZ  X19, user_next
        MOV   X8, #SYS_PEEK
        MOV   X0, #vbuf
        SVC   #0
        B     the_end

the_end:
