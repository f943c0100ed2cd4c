//! The check that a binary is an ELF executable for the target: the header, the
//! architecture, and a program rather than a shared library. Reads only the bytes it is
//! given, with checked offsets (a malformed file is refused, never a panic).

use camino::Utf8Path;

use crate::error::Error;

/// The ELF machine number for a target's architecture.
fn elf_machine(target: &str) -> Option<(u16, &'static str)> {
    match target.split('-').next()? {
        "x86_64" => Some((0x3e, "x86-64")),
        "aarch64" => Some((0xb7, "AArch64")),
        _ => None,
    }
}

/// Refuses a file that is not a 64-bit little-endian ELF executable for the target's
/// architecture: a macOS binary, a script, a binary for another CPU, an object file, or a
/// shared library (which would pass for a program and crash-loop in the container).
/// `bytes` are the file's contents; `path` names it in the message.
pub fn check_binary(path: &Utf8Path, bytes: &[u8], target: &str) -> Result<(), Error> {
    let refuse = |what: String| {
        Err(Error::NotExecutable {
            path: path.to_owned(),
            what,
            target: target.to_string(),
        })
    };
    if bytes.len() < 64 || &bytes[..4] != b"\x7fELF" {
        let kind = match bytes.get(..4).unwrap_or(bytes) {
            [0xcf, 0xfa, 0xed, 0xfe] | [0xca, 0xfe, 0xba, 0xbe] => "a Mach-O (macOS) binary",
            [b'M', b'Z', ..] => "a Windows (PE) binary",
            [b'#', b'!', ..] => "a script",
            [0x7f, b'E', b'L', b'F'] => "a truncated ELF file",
            _ => "not an ELF file",
        };
        return refuse(kind.to_string());
    }
    if bytes[4] != 2 || bytes[5] != 1 {
        return refuse("a 32-bit or big-endian ELF file".into());
    }
    if let Err(what) = elf_executable(bytes) {
        return refuse(what);
    }
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    match elf_machine(target) {
        Some((want, _)) if machine == want => Ok(()),
        Some((_, name)) => refuse(format!(
            "an ELF executable for machine {machine:#x}, not {name}"
        )),
        None => refuse("for an architecture buildkit-lite does not know".into()),
    }
}

/// Whether a 64-bit little-endian ELF file is a program: `ET_EXEC`, or `ET_DYN` with an
/// interpreter (a dynamically linked PIE) or with the PIE flag (a static PIE, as Rust
/// builds for musl). A shared library is `ET_DYN` with neither. Reads only inside `bytes`.
fn elf_executable(bytes: &[u8]) -> Result<(), String> {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_FLAGS_1: u64 = 0x6fff_fffb;
    const DF_1_PIE: u64 = 0x0800_0000;
    let u16_at = |at: usize| field(bytes, at).map(u16::from_le_bytes);
    let u32_at = |at: usize| field(bytes, at).map(u32::from_le_bytes);
    let u64_at = |at: usize| field(bytes, at).map(u64::from_le_bytes);
    match u16_at(16) {
        Some(2) => return Ok(()),
        Some(3) => {}
        Some(1) => return Err("an ELF object file (type REL), not a linked program".into()),
        Some(4) => return Err("an ELF core dump".into()),
        other => return Err(format!("an ELF file of type {}", other.unwrap_or(0))),
    }
    let truncated = || "a truncated ELF file".to_string();
    let phoff = u64_at(32).ok_or_else(truncated)? as usize;
    let phentsize = u16_at(54).ok_or_else(truncated)? as usize;
    let phnum = u16_at(56).ok_or_else(truncated)? as usize;
    let mut dynamic = None;
    for i in 0..phnum {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        match u32_at(at).ok_or_else(truncated)? {
            PT_INTERP => return Ok(()),
            PT_DYNAMIC => {
                let offset = u64_at(at.saturating_add(8)).ok_or_else(truncated)? as usize;
                let size = u64_at(at.saturating_add(32)).ok_or_else(truncated)? as usize;
                dynamic = Some((offset, size));
            }
            _ => {}
        }
    }
    let (offset, size) = dynamic.unwrap_or((0, 0));
    for entry in (0..size / 16).map(|i| offset.saturating_add(i * 16)) {
        match (u64_at(entry), u64_at(entry.saturating_add(8))) {
            (Some(0), _) | (None, _) => break,
            (Some(DT_FLAGS_1), Some(flags)) if flags & DF_1_PIE != 0 => return Ok(()),
            _ => {}
        }
    }
    Err("a shared library (ELF type DYN with neither an interpreter nor the PIE flag)".into())
}

/// The program interpreter a 64-bit little-endian ELF program asks for (`PT_INTERP`:
/// `/lib64/ld-linux-x86-64.so.2`), or `None` for a statically linked one (or a file this
/// cannot read). Reads only inside `bytes`.
pub fn interpreter(bytes: &[u8]) -> Option<String> {
    const PT_INTERP: u32 = 3;
    let u16_at = |at: usize| field(bytes, at).map(u16::from_le_bytes);
    let u32_at = |at: usize| field(bytes, at).map(u32::from_le_bytes);
    let u64_at = |at: usize| field(bytes, at).map(u64::from_le_bytes);
    if bytes.get(..4)? != b"\x7fELF" || bytes.get(4..6)? != [2, 1] {
        return None;
    }
    let phoff = u64_at(32)? as usize;
    let (phentsize, phnum) = (u16_at(54)? as usize, u16_at(56)? as usize);
    (0..phnum).find_map(|i| {
        let at = phoff.saturating_add(i.saturating_mul(phentsize));
        if u32_at(at)? != PT_INTERP {
            return None;
        }
        let offset = u64_at(at.saturating_add(8))? as usize;
        let size = u64_at(at.saturating_add(32))? as usize;
        let text = bytes.get(offset..offset.checked_add(size)?)?;
        let text = text.split(|b| *b == 0).next()?;
        String::from_utf8(text.to_vec()).ok()
    })
}

/// The `N` bytes at `at`, if the file has them.
fn field<const N: usize>(bytes: &[u8], at: usize) -> Option<[u8; N]> {
    bytes.get(at..at.checked_add(N)?)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit ELF header of `e_type`, with program headers `phdrs` (type,
    /// offset, size) and the file padded with `tail`.
    fn elf(e_type: u16, phdrs: &[(u32, u64, u64)], tail: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..6].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1]);
        b[16..18].copy_from_slice(&e_type.to_le_bytes());
        b[18..20].copy_from_slice(&0x3eu16.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (p_type, offset, size) in phdrs {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&p_type.to_le_bytes());
            ph[8..16].copy_from_slice(&offset.to_le_bytes());
            ph[32..40].copy_from_slice(&size.to_le_bytes());
            b.extend(ph);
        }
        b.extend_from_slice(tail);
        b
    }

    #[test]
    fn the_interpreter_is_read_from_pt_interp() {
        let interp = b"/lib64/ld-linux-x86-64.so.2\0";
        let dynamic = elf(3, &[(3, 64 + 56, interp.len() as u64)], interp);
        assert_eq!(
            interpreter(&dynamic).as_deref(),
            Some("/lib64/ld-linux-x86-64.so.2")
        );
        assert_eq!(interpreter(&elf(2, &[], &[])), None, "static");
        assert_eq!(
            interpreter(&elf(3, &[(3, 1 << 40, 8)], &[])),
            None,
            "past the end"
        );
        assert_eq!(interpreter(b"#!/bin/sh"), None);
    }

    #[test]
    fn binaries_of_the_wrong_kind_are_refused() {
        let check = |bytes: &[u8]| {
            check_binary(Utf8Path::new("f"), bytes, "x86_64-unknown-linux-gnu")
                .map_err(|e| e.to_string())
        };
        assert!(check(&elf(2, &[], &[])).is_ok(), "ET_EXEC");
        assert!(
            check(&elf(3, &[(3, 0, 0)], &[])).is_ok(),
            "PIE with PT_INTERP"
        );
        // A static PIE: PT_DYNAMIC holding DT_FLAGS_1 with DF_1_PIE.
        let dynamic_at = 64 + 56;
        let mut dynamic = Vec::new();
        dynamic.extend(0x6fff_fffbu64.to_le_bytes());
        dynamic.extend(0x0800_0000u64.to_le_bytes());
        dynamic.extend([0u8; 16]);
        let static_pie = elf(3, &[(2, dynamic_at, 32)], &dynamic);
        assert!(check(&static_pie).is_ok(), "static PIE");
        // A shared library: ET_DYN, a dynamic section without the PIE flag, no interpreter.
        let mut lib_dynamic = dynamic.clone();
        lib_dynamic[8..16].copy_from_slice(&0u64.to_le_bytes());
        let err = check(&elf(3, &[(2, dynamic_at, 32)], &lib_dynamic)).unwrap_err();
        assert!(err.contains("f is a shared library (ELF type DYN"), "{err}");
        assert!(
            check(&elf(1, &[], &[]))
                .unwrap_err()
                .contains("object file")
        );
        // Program headers pointing past the end: refused, no panic.
        let mut broken = elf(3, &[(2, 1 << 40, 1 << 40)], &[]);
        assert!(check(&broken).is_err());
        broken[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(check(&broken).unwrap_err().contains("truncated"));
        let mut arm = elf(2, &[], &[]);
        arm[18] = 0xb7;
        assert!(check(&arm).unwrap_err().contains("not x86-64"));
        let macho = [
            0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(check(&macho).unwrap_err().contains("Mach-O"));
        assert!(
            check(b"#!/bin/sh\necho hi\n")
                .unwrap_err()
                .contains("a script")
        );
    }
}
