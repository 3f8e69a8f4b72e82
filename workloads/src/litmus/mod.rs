//! The litmus front end: herd7's C, AArch64 and x86 (`X86`, `X86_64`) litmus formats, compiled
//! to programs for the simulated cores and run timed or exhaustively.
mod asmparse;
pub mod ast;
pub mod cgen;
pub mod compile;
mod cond;
mod cparse;
pub mod driver;
pub mod generate;
pub mod herd;
mod lex;
pub mod parse;
pub mod print;
pub mod report;
pub mod run;
mod sizes;
pub use driver::{InputError, LitmusOutcome, compile_text, load, run_files};
pub mod validate;
pub mod x86;
mod x86parse;
