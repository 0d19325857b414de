//! Replacing a `.env` on a host (rotation's write): atomic, byte for byte except the value
//! that changes, owner and mode kept, a mode-600 backup, a symlink written through, a
//! file changed since it was read left alone, a full disk leaving the old file whole.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use breakglass::engine::envfile::replace::{ReplaceError, replace};
use breakglass::engine::envfile::{EnvFile, replace_value};
use sha2::{Digest, Sha256};

use crate::testbed::variant;

fn sha(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Files in `dir` whose name has `part`.
fn leftovers(dir: &Path, part: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect()
}

#[tokio::test]
async fn every_shape_of_env_file_keeps_every_byte_but_the_new_value() {
    let v = variant("envw", |t| t).await;
    let session = v.engine.session(&v.name, "app3").await.unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/envfiles");
    let mut n = 0;
    for entry in std::fs::read_dir(&fixtures).unwrap().flatten() {
        let original = std::fs::read(entry.path()).unwrap();
        let Ok(text) = String::from_utf8(original.clone()) else {
            continue;
        };
        let Ok(env) = EnvFile::parse(&text) else { continue };
        let Some(key) = env.keys().last().map(str::to_owned) else {
            continue;
        };
        let new_value = format!("rotated-{}", hex::encode(rand::random::<[u8; 16]>()));
        let new = replace_value(&text, &key, &new_value).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env");
        std::fs::write(&file, &original).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        std::os::unix::fs::chown(&file, Some(65534), Some(65534)).unwrap();

        let done = replace(
            &session,
            file.to_str().unwrap(),
            &sha(&original),
            new.expose().as_bytes(),
        )
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", entry.path().display()));
        let now = std::fs::read(&file).unwrap();
        assert_eq!(now, new.expose().as_bytes(), "{}", entry.path().display());
        // Every other assignment reads back the same.
        let after = EnvFile::parse(std::str::from_utf8(&now).unwrap()).unwrap();
        for k in env.keys() {
            let want = if k == key {
                new_value.as_str()
            } else {
                env.get(k).unwrap().expose().as_str()
            };
            assert_eq!(
                after.get(k).unwrap().expose(),
                want,
                "{k} in {}",
                entry.path().display()
            );
        }
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640);
        assert_eq!((meta.uid(), meta.gid()), (65534, 65534));
        let backup = std::fs::metadata(&done.backup).unwrap();
        assert_eq!(backup.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read(&done.backup).unwrap(), original);
        assert!(leftovers(dir.path(), "bg-new").is_empty());
        n += 1;
    }
    assert!(n >= 8, "only {n} fixtures were tried");
}

#[tokio::test]
async fn a_symlink_is_written_through_and_a_changed_file_is_left_alone() {
    let v = variant("envw2", |t| t).await;
    let session = v.engine.session(&v.name, "app3").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shared")).unwrap();
    let real = dir.path().join("shared/env.real");
    std::fs::write(&real, "A=1\nSECRET=old\n").unwrap();
    let link = dir.path().join(".env");
    std::os::unix::fs::symlink("shared/env.real", &link).unwrap();

    let done = replace(
        &session,
        link.to_str().unwrap(),
        &sha(b"A=1\nSECRET=old\n"),
        b"A=1\nSECRET=new\n",
    )
    .await
    .unwrap();
    assert!(
        std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(),
        "still a symlink"
    );
    assert_eq!(std::fs::read(&real).unwrap(), b"A=1\nSECRET=new\n");
    assert_eq!(done.target, real.canonicalize().unwrap().to_str().unwrap());

    // Changed since it was read: nothing written, nothing left.
    let err = replace(
        &session,
        link.to_str().unwrap(),
        &sha(b"A=1\nSECRET=old\n"),
        b"A=1\nSECRET=other\n",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReplaceError::Changed { .. }), "{err}");
    assert_eq!(std::fs::read(&real).unwrap(), b"A=1\nSECRET=new\n");
    assert!(leftovers(&dir.path().join("shared"), "bg-new").is_empty());

    // A path that does not exist, and a folder: refused with the reason.
    let err = replace(
        &session,
        dir.path().join("nope/.env").to_str().unwrap(),
        &sha(b""),
        b"X=1\n",
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ReplaceError::Refused { .. }), "{err}");
    let err = replace(
        &session,
        dir.path().join("shared").to_str().unwrap(),
        &sha(b""),
        b"X=1\n",
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("not a regular file"), "{err}");
}

/// A full disk: the write fails before the rename, the old file is whole, no temporary
/// file is left.
#[tokio::test]
async fn a_full_disk_leaves_the_old_file_whole() {
    let v = variant("envw3", |t| t).await;
    let session = v.engine.session(&v.name, "app3").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let out = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "bg-envw", mnt.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mount: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    struct Umount(std::path::PathBuf);
    impl Drop for Umount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _umount = Umount(mnt.clone());
    let file = mnt.join(".env");
    let old = b"SECRET_KEY_BASE=old-value\n".to_vec();
    std::fs::write(&file, &old).unwrap();
    let big = format!("SECRET_KEY_BASE={}\n", "x".repeat(200 * 1024));
    let err = replace(&session, file.to_str().unwrap(), &sha(&old), big.as_bytes())
        .await
        .unwrap_err();
    assert!(matches!(err, ReplaceError::Refused { .. }), "{err}");
    assert!(err.to_string().contains("No space left"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), old);
    assert!(leftovers(&mnt, "bg-new").is_empty(), "{:?}", leftovers(&mnt, ""));
}
