//! What the demo data set holds, and the report of a run.

use std::fmt;

use crate::catalog::StoreKind;

#[derive(Default)]
pub struct SeedReport {
    pub created: Vec<String>,
    pub present: usize,
}

impl fmt::Display for SeedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "demo data: {} record(s) created, {} already present",
            self.created.len(),
            self.present
        )?;
        for line in &self.created {
            writeln!(f, "  + {line}")?;
        }
        Ok(())
    }
}

pub const STORES: &[(&str, &str, &str, StoreKind)] = &[
    (
        "SZ-FUTIAN",
        "Shenzhen Futian Service Center",
        "Shenzhen",
        StoreKind::ServiceCenter,
    ),
    (
        "SZ-NANSHAN",
        "Shenzhen Nanshan Service Center",
        "Shenzhen",
        StoreKind::ServiceCenter,
    ),
    (
        "SH-XUHUI",
        "Shanghai Xuhui Service Center",
        "Shanghai",
        StoreKind::ServiceCenter,
    ),
    (
        "SZ-WH1",
        "Shenzhen Regional Parts Warehouse",
        "Shenzhen",
        StoreKind::Warehouse,
    ),
];

/// Code, name, premium, loaner deposit in fen.
pub const SERIES: &[(&str, &str, bool, Option<i64>)] = &[
    ("MATE", "Mate", true, Some(100_000)),
    ("P", "P", true, Some(80_000)),
    ("NOVA", "nova", false, None),
    ("ENJOY", "Enjoy", false, None),
];

pub const MODELS: &[(&str, &str, &str)] = &[
    ("MATE60PRO", "Mate 60 Pro", "MATE"),
    ("MATE70", "Mate 70", "MATE"),
    ("P70", "P70", "P"),
    ("P70PRO", "P70 Pro", "P"),
    ("NOVA12", "nova 12", "NOVA"),
    ("NOVA13", "nova 13", "NOVA"),
    ("ENJOY70", "Enjoy 70", "ENJOY"),
];

/// Loaners per service center: model, grade.
pub const LOANERS: &[(&str, &str)] = &[
    ("MATE60PRO", "A"),
    ("MATE60PRO", "B"),
    ("MATE70", "A"),
    ("P70", "A"),
    ("P70PRO", "C"),
];

/// SKU, name, category, compatible model (or series when it starts with `@`), price in yuan, labour in yuan,
/// warranty months, stock at the warehouse, stock at each service center.
pub type PartSeed = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    i64,
    Option<i64>,
    i32,
    i64,
    i64,
);
pub const PARTS: &[PartSeed] = &[
    (
        "SCR-MATE60PRO",
        "Mate 60 Pro display assembly",
        "screen",
        "MATE60PRO",
        1949,
        Some(150),
        3,
        40,
        4,
    ),
    (
        "BAT-MATE60PRO",
        "Mate 60 Pro battery",
        "battery",
        "MATE60PRO",
        299,
        Some(50),
        6,
        60,
        6,
    ),
    (
        "BCV-MATE60PRO",
        "Mate 60 Pro back cover",
        "back_cover",
        "MATE60PRO",
        499,
        Some(80),
        3,
        30,
        3,
    ),
    (
        "SCR-P70",
        "P70 display assembly",
        "screen",
        "P70",
        1399,
        Some(150),
        3,
        35,
        3,
    ),
    ("BAT-P70", "P70 battery", "battery", "P70", 249, Some(50), 6, 50, 5),
    (
        "SCR-NOVA12",
        "nova 12 display assembly",
        "screen",
        "NOVA12",
        799,
        Some(100),
        3,
        25,
        2,
    ),
    (
        "CHG-66W",
        "66 W SuperCharge charger",
        "charger",
        "@MATE",
        149,
        None,
        12,
        80,
        10,
    ),
    (
        "EAR-TYPEC",
        "Type-C wired earphones",
        "earphones",
        "@NOVA",
        99,
        None,
        3,
        100,
        12,
    ),
];

pub const PARTNER: (&str, &str) = ("SWIFTFOX", "SwiftFox Express");
