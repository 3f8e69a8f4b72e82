//! One writer per output file: the lock `isolsim sweep` and `isolsim difftest --log` take on
//! the file they append to.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The one writer of an output file: an exclusive `flock` on `OUT.lock`, which holds the
/// writer's process id while it runs. The kernel releases the lock when the process ends, however
/// it ends, so a killed run leaves no stale lock behind (the file stays, empty).
pub struct OutputLock {
    file: std::fs::File,
}

impl OutputLock {
    /// Takes the lock of `out` for `command`, which names the file with `option` (both named in
    /// the refusal a second writer gets). An error is (the file it is about, what is wrong).
    pub fn take(out: &Path, command: &str, option: &str) -> Result<OutputLock, (String, String)> {
        let mut path = out.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        let fail = |m: String| (path.display().to_string(), m);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| fail(format!("cannot open the lock of {} ({e})", out.display())))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = std::io::Read::read_to_string(&mut file, &mut holder);
                let holder = match holder.trim() {
                    "" => String::new(),
                    pid => format!(" (process {pid})"),
                };
                return Err((
                    out.display().to_string(),
                    format!("another {command}{holder} is writing it: wait for it to end, or choose another {option}"),
                ));
            }
            Err(fs4::TryLockError::Error(e)) => return Err(fail(format!("cannot lock it ({e})"))),
        }
        let pid = std::process::id().to_string();
        file.set_len(0)
            .and_then(|_| file.write_all(pid.as_bytes()))
            .map_err(|e| fail(format!("cannot write it ({e})")))?;
        Ok(OutputLock { file })
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        // No holder any more; closing the file releases the lock.
        let _ = self.file.set_len(0);
    }
}
