//! Any canister, not only the EVM: a plain ic-cdk counter canister.

use candid::{Decode, Encode, Principal};
use canister_host::{CallError, Canister, CanisterSettings, Host, HostConfig, MessageEnv, Trap};

fn env() -> MessageEnv {
    MessageEnv {
        caller: Principal::from_slice(&[7; 29]).as_slice().to_vec(),
        time: 1_700_000_000_000_000_000,
    }
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

#[test]
fn updates_queries_and_stable_memory_work() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut canister = install(&host);
    assert_eq!(get(&mut canister), 5);
    for expected in [6u64, 7] {
        let execution = canister.update("increment", &Encode!().unwrap(), &env()).unwrap();
        assert_eq!(Decode!(execution.reply().unwrap(), u64).unwrap(), expected);
        assert!(execution.cycles > 0);
    }
    canister.update("remember", &Encode!(&"alice").unwrap(), &env()).unwrap().reply().unwrap();
    let names = canister.query("names", &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(
        Decode!(names.reply().unwrap(), Vec<(u64, String)>).unwrap(),
        vec![(7, "alice".to_owned())]
    );
    assert!(canister.stable_memory().size() > 0);

    let (caller, controller) = Decode!(
        canister.query("whoami", &Encode!().unwrap(), &env()).unwrap().reply().unwrap(),
        Principal,
        bool
    )
    .unwrap();
    assert_eq!(caller.as_slice(), &env().caller[..]);
    assert!(controller);
}

#[test]
fn a_trap_in_an_ic_cdk_canister_is_rolled_back() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut canister = install(&host);
    let error = canister.update("fail", &Encode!().unwrap(), &env()).unwrap().reply().unwrap_err();
    let CallError::Trapped(Trap::Explicit(message)) = error else { panic!("{error:?}") };
    assert!(message.contains("failing on purpose"), "{message}");
    assert_eq!(get(&mut canister), 5);
    // ic-cdk's executor state was rolled back too: the canister keeps serving.
    canister.update("increment", &Encode!().unwrap(), &env()).unwrap().reply().unwrap();
    assert_eq!(get(&mut canister), 6);
}

#[test]
fn an_upgrade_keeps_what_the_hooks_save() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut canister = install(&host);
    canister.update("increment", &Encode!().unwrap(), &env()).unwrap();
    canister.update("remember", &Encode!(&"bob").unwrap(), &env()).unwrap();
    let module = host.compile(test_canisters::COUNTER).unwrap();
    canister.upgrade(&host, module, &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(get(&mut canister), 6);
    let upgrades = canister.query("upgrades", &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(Decode!(upgrades.reply().unwrap(), u64).unwrap(), 1);
    let names = canister.query("names", &Encode!().unwrap(), &env()).unwrap();
    assert_eq!(
        Decode!(names.reply().unwrap(), Vec<(u64, String)>).unwrap(),
        vec![(6, "bob".to_owned())]
    );
}

#[test]
fn bad_candid_traps_and_changes_nothing() {
    let host = Host::new(HostConfig::default()).unwrap();
    let mut canister = install(&host);
    let error = canister.update("remember", b"not candid", &env()).unwrap().reply().unwrap_err();
    assert!(matches!(error, CallError::Trapped(Trap::Explicit(_))), "{error:?}");
    assert_eq!(get(&mut canister), 5);
}
