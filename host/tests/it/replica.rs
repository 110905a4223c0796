//! Read-only replicas: a copy of a canister's committed state that runs
//! queries on its own store, kept equal to its source by copying the pages
//! committed messages change.

use candid::{Decode, Encode};
use canister_host::{Canister, CanisterSettings, Host, HostConfig, MessageEnv};

fn env() -> MessageEnv {
    MessageEnv { caller: vec![7; 29], time: 1_700_000_000_000_000_000 }
}

fn install(host: &Host) -> Canister {
    let module = host.compile(test_canisters::COUNTER).unwrap();
    let settings =
        CanisterSettings { controllers: vec![env().caller], ..CanisterSettings::default() };
    Canister::install(host, module, settings, &Encode!(&5u64).unwrap(), &env()).unwrap().0
}

fn get(canister: &mut Canister) -> u64 {
    Decode!(canister.query("get", &Encode!().unwrap(), &env()).unwrap().reply().unwrap(), u64)
        .unwrap()
}

fn names(canister: &mut Canister) -> Vec<(u64, String)> {
    let reply = canister.query("names", &Encode!().unwrap(), &env()).unwrap();
    Decode!(reply.reply().unwrap(), Vec<(u64, String)>).unwrap()
}

/// Everything a query can observe, compared.
fn assert_same(source: &mut Canister, replica: &mut Canister) {
    assert_eq!(source.heap(), replica.heap(), "committed heaps differ");
    let globals = |c: &Canister| c.globals().iter().map(|g| format!("{g:?}")).collect::<Vec<_>>();
    assert_eq!(globals(source), globals(replica), "globals differ");
    assert_eq!(source.stable_memory().to_vec(), replica.stable_memory().to_vec());
    assert_eq!(source.version(), replica.version());
    assert_eq!(source.cycles(), replica.cycles());
    assert_eq!(get(source), get(replica));
    assert_eq!(names(source), names(replica));
    // The same query costs the same instructions on both.
    let a = source.query("names", &Encode!().unwrap(), &env()).unwrap();
    let b = replica.query("names", &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn a_replica_follows_its_source_page_by_page() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut source = install(&host);
    let mut replica = source.replica(&host).unwrap();
    assert_same(&mut source, &mut replica);

    source.update("increment", &Encode!().unwrap(), &env()).unwrap().reply().unwrap();
    // Until it is synced, the replica answers from the state it was made of.
    assert_eq!(get(&mut replica), 5);
    let synced = source.sync_replica(&host, &mut replica).unwrap();
    assert!(!synced.rebuilt);
    assert!(synced.heap_pages > 0);
    assert_same(&mut source, &mut replica);

    // Stable memory grows and is written; a trap changes nothing to copy.
    for name in ["alice", "bob", "carol"] {
        source.update("remember", &Encode!(&name).unwrap(), &env()).unwrap().reply().unwrap();
    }
    source.update("fail", &Encode!().unwrap(), &env()).unwrap().reply().unwrap_err();
    let synced = source.sync_replica(&host, &mut replica).unwrap();
    assert!(synced.stable_pages > 0, "{synced:?}");
    assert_same(&mut source, &mut replica);

    // Nothing committed since: nothing to copy.
    assert_eq!(source.sync_replica(&host, &mut replica).unwrap(), canister_host::Synced::default());

    // Queries on the replica change neither it nor its source.
    for _ in 0..3 {
        names(&mut replica);
    }
    assert_same(&mut source, &mut replica);
}

#[test]
fn an_upgraded_source_rebuilds_its_replica() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut source = install(&host);
    let mut replica = source.replica(&host).unwrap();
    source.update("remember", &Encode!(&"dave").unwrap(), &env()).unwrap().reply().unwrap();
    let module = host.compile(test_canisters::COUNTER).unwrap();
    source.upgrade(&host, module, &Encode!().unwrap(), &env()).unwrap();
    source.update("increment", &Encode!().unwrap(), &env()).unwrap().reply().unwrap();
    let synced = source.sync_replica(&host, &mut replica).unwrap();
    assert!(synced.rebuilt);
    assert_same(&mut source, &mut replica);
    let upgrades = replica.query("upgrades", &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(Decode!(upgrades.reply().unwrap(), u64).unwrap(), 1);

    // And it follows page by page again.
    source.update("increment", &Encode!().unwrap(), &env()).unwrap().reply().unwrap();
    assert!(!source.sync_replica(&host, &mut replica).unwrap().rebuilt);
    assert_same(&mut source, &mut replica);
}
