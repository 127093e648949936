//! Stand-in for [`seccomp`](self) on architectures seccompiler cannot target: the same API,
//! every constructor failing with [`SecurityError::Unsupported`].

pub use seccompiler::BpfProgram;

use super::SecurityError;

fn unsupported() -> SecurityError {
    SecurityError::Unsupported(std::env::consts::ARCH)
}

pub fn default_program() -> Result<BpfProgram, SecurityError> {
    Err(unsupported())
}

pub fn program_for(_caps: &[String]) -> Result<BpfProgram, SecurityError> {
    Err(unsupported())
}

pub fn apply(_prog: &BpfProgram) -> Result<(), SecurityError> {
    Err(unsupported())
}
