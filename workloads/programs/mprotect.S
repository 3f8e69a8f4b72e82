// The ThunderX2 mprotect() experiment (DESIGN.md: "arm64 broadcast TLBI
// from a sibling's mprotect() loop: unrelated job 39 -> 49 ms"). One CPU
// runs a job of fixed length in user space; another runs mprotect() on a
// page of its own process in a loop. The job shares nothing with the loop:
// what slows it is that every call's TLBI VALE1IS (tlb.S: flush_tlb_page)
// reaches its CPU too.
//
// From the benchmark (workloads::tlbi_bench):
//   JOB_BLOCKS, JOB_BLOCK_CYCLES  the job: so many compute blocks
//   JOB_RESULT                    the job's (start, end) counter values
//   LOOP_RESULT                   the loop's (start, calls, counter after the last call)
//   MPROTECT_VA, MPROTECT_PTE, MPROTECT_ASID   the page the loop changes
// Both start at EL1 and drop to user space as execve() does.

mprotect_start:
        ADR   X0, mprotect_main
        B     ret_to_user
job_start:
        ADR   X0, job_main
        B     ret_to_user

mprotect_main:                           // EL0
        MRS   X19, CNTVCT_EL0
        MOV   X20, #0
mprotect_loop:
        MOV   X0, #MPROTECT_VA
        MOV   X1, #MPROTECT_PTE
        MOV   X2, #MPROTECT_ASID
        MOV   X8, #SYS_MPROTECT
        SVC   #0
        ADD   X20, X20, #1
        MRS   X21, CNTVCT_EL0
        MOV   X9, #LOOP_RESULT
        STR   X19, [X9]
        STR   X20, [X9, #8]
        STR   X21, [X9, #16]
        B     mprotect_loop

job_main:                                // EL0
        MRS   X19, CNTVCT_EL0
        MOV   X20, #JOB_BLOCKS
job_loop:
        work  JOB_BLOCK_CYCLES
        SUB   X20, X20, #1
        CBNZ  X20, job_loop
        MRS   X21, CNTVCT_EL0
        MOV   X9, #JOB_RESULT
        STR   X19, [X9]
        STR   X21, [X9, #8]
job_end:                                 // nothing follows: the job's CPU is done once its
                                         // stores have drained, and the run ends
