//! # cpu-model — cores that execute programs
pub mod asm;
pub mod code;
pub mod core;
pub mod gic;
pub mod isa;
pub mod machine;
pub mod topology;
