//! Rebuilds the store when a migration is added or changed: `sqlx::migrate!` embeds the
//! files at compile time, and cargo does not otherwise see new files in the folder.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
