//! Migration-check throughput: 100k generated OpenMeet users through `policy-test migrate`'s
//! code path (CSV in, the table report out to a sink), with the sample's MAS config
//! (`tests/migrate/mas.yaml`: three tenants, `| lower` template, banned names).
//!
//! Budget (architecture.md): at least 100k users per second. Criterion prints the throughput
//! as elements per second.

use std::{fmt::Write as _, hint::black_box, path::PathBuf};

use claims_mapper::Mapper;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use policy_test::bundle::build;
use policy_test::claims::{
    mas_config::{self, MasConfig},
    migrate::{self, Columns, InputFormat, ReportFormat},
};

const USERS: u32 = 100_000;

/// 100k users over the three tenants; one in 50 slugs is uppercase or an email address, one
/// in 100 repeats an earlier slug, so the error and collision paths are exercised too.
fn export() -> String {
    let tenants = ["openmeet", "lsd", "sesame"];
    let mut out = String::from("id,email,slug,name,created_at,tenant_id\n");
    for i in 0..USERS {
        let tenant = tenants[(i % 3) as usize];
        let domain = if tenant == "sesame" {
            "sesame.org"
        } else {
            "example.org"
        };
        let slug = match i % 100 {
            0 => format!("User-{i}"),
            50 => format!("user{i}@example.org"),
            99 => format!("user-{}", i - 3),
            _ => format!("user-{i}"),
        };
        let _ = writeln!(
            out,
            "u{i},user{i}@{domain},{slug},User {i},2024-05-01T10:00:00Z,{tenant}"
        );
    }
    out
}

/// The mapper for the sample config as MAS runs it: the bundle's `mas-config.yaml`, whose
/// localpart template carries the tenant markers.
fn mapper() -> Mapper {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/migrate/mas.yaml");
    let bundle = build::build(&build::Options::new(Some(path))).expect("the sample bundle");
    let text = bundle
        .files
        .iter()
        .find(|(p, _)| p == "mas-config.yaml")
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .expect("the generated config");
    let config = MasConfig::from_value(
        "dist/mas-config.yaml",
        policy_test::bundle::mas_config::parse(&text).expect("the generated config"),
    );
    let data = mas_config::assemble(
        config.base_data().expect("matrix.homeserver"),
        config.policy_data(),
        None,
    )
    .expect("the sample data");
    Mapper::load(
        &config
            .claims_imports("01JD8W6Q3ZKXN5V2R7T9H4M0PB")
            .expect("the sample provider"),
        &data,
    )
    .expect("the sample mapper")
}

fn bench(c: &mut Criterion) {
    let input = export();
    let mapper = mapper();
    let columns = Columns::default();
    let mut group = c.benchmark_group("migrate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(u64::from(USERS)));
    group.bench_function("100k users, csv to table", |b| {
        b.iter(|| {
            migrate::run(
                black_box(input.as_bytes()),
                InputFormat::Csv,
                &columns,
                &mapper,
                ReportFormat::Table,
                std::io::sink(),
                |_| {},
            )
            .expect("the check runs")
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
