//! The SQLite and PostgreSQL migrations are one schema history written twice: both backends
//! have the same migrations by name, and every migration whose SQL both dialects accept is kept
//! byte-identical, so a change made to one backend's copy and forgotten in the other fails here.
//! MySQL's copies (its own DDL dialect throughout) must have the same migrations by name.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const MIGRATIONS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");

/// Migrations that must differ: SQLite has no `LISTEN`/`NOTIFY` or trigger functions, so it
/// records session changes in a table that every process polls, where PostgreSQL notifies.
const BACKEND_SPECIFIC: &[&str] = &["2026-12-01-000001_session_changes"];

/// The names of the entries of `dir`.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn backend(name: &str) -> PathBuf {
    Path::new(MIGRATIONS).join(name)
}

#[test]
fn both_backends_have_the_same_migrations() {
    let sqlite = names(&backend("sqlite"));
    let postgres = names(&backend("postgres"));
    assert!(!sqlite.is_empty(), "no migrations under {MIGRATIONS}");
    assert_eq!(
        sqlite, postgres,
        "migrations/sqlite and migrations/postgres list different migrations"
    );
    assert_eq!(
        sqlite,
        names(&backend("mysql")),
        "migrations/sqlite and migrations/mysql list different migrations"
    );
    for m in &sqlite {
        let files = BTreeSet::from(["down.sql".to_owned(), "up.sql".to_owned()]);
        assert_eq!(names(&backend("sqlite").join(m)), files, "sqlite/{m}");
        assert_eq!(names(&backend("postgres").join(m)), files, "postgres/{m}");
        assert_eq!(names(&backend("mysql").join(m)), files, "mysql/{m}");
    }
}

#[test]
fn migrations_both_dialects_accept_stay_identical() {
    let all = names(&backend("sqlite"));
    for m in BACKEND_SPECIFIC {
        assert!(
            all.contains(*m),
            "{m} is listed as backend-specific but does not exist"
        );
    }
    for m in &all {
        let specific = BACKEND_SPECIFIC.contains(&m.as_str());
        let mut differs = false;
        for file in ["up.sql", "down.sql"] {
            let read = |b: &str| {
                let path = backend(b).join(m).join(file);
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            };
            let same = read("sqlite") == read("postgres");
            assert!(
                same || specific,
                "{m}/{file} differs between sqlite and postgres; make the copies identical, or \
                 list the migration in BACKEND_SPECIFIC with the reason"
            );
            differs |= !same;
        }
        // A stale exception would let a later edit to one copy slip through unnoticed.
        assert!(
            differs || !specific,
            "{m} is identical on both backends now: take it off BACKEND_SPECIFIC"
        );
    }
}
