// The isolated task (EL0): a polling loop, as a DPDK-style or real-time
// control task runs, with an optional system call every so many iterations.
// It starts in the kernel (isolated-start.S) on a nohz_full CPU, asks for
// isolation and returns to user space; from then on every interrupt it
// takes, every TLBI disturbance and every cycle its system calls spend in
// the kernel are visible in its timeline.
//
// From the experiment (workloads::experiment):
//   ITER_WORK        cycles of work per loop iteration
//   USER_SYSCALL     the system call it makes (SYS_TOUCH or SYS_NOP)
//   X19 at start     this CPU's table of iteration counts between system
//                    calls (seeded, exponential gaps), 0 = no more calls
// The loop head `user_iter` is where the experiment measures iteration
// times (oslat's loop); `user_syscall` where a system call starts.

user_main:
        LDR   X20, [X19]                 // iterations until the first system call
        ADD   X19, X19, #8
user_iter:
        work  ITER_WORK
        CBZ   X20, user_iter             // no more system calls: poll forever
        SUB   X20, X20, #1
        CBNZ  X20, user_iter
user_syscall:
        MOV   X8, #USER_SYSCALL
        SVC   #0
        LDR   X20, [X19]
        ADD   X19, X19, #8
        B     user_iter
