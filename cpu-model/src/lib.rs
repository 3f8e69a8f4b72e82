//! # cpu-model — cores that execute programs
pub mod asm;
pub mod code;
pub mod core;
pub mod isa;
pub mod machine;
