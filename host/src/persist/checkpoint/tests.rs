use super::*;

struct State {
    heap: Vec<u8>,
    stable: StableMemory,
    system: SystemState,
    globals: Vec<Val>,
}

fn state() -> State {
    let mut stable = StableMemory::default();
    stable.begin();
    stable.grow(3, 100);
    stable.write(70_000, b"stable data");
    stable.commit();
    let mut heap = vec![0u8; 2 * CHUNK];
    heap[10] = 1;
    let system = SystemState {
        canister_id: vec![1, 2],
        cycles: 77,
        version: 3,
        stable: StableMemory::default(),
        ..SystemState::default()
    };
    State { heap, stable, system, globals: vec![Val::I32(-5), Val::I64(9)] }
}

fn snapshot<'a>(
    state: &'a State,
    dirty_heap: &'a BTreeSet<usize>,
    dirty_stable: &'a BTreeSet<usize>,
) -> Snapshot<'a> {
    Snapshot {
        heap: &state.heap,
        stable: &state.stable,
        dirty_heap,
        dirty_stable,
        globals: &state.globals,
        system: &state.system,
        module_hash: [7; 32],
    }
}

#[test]
fn a_checkpoint_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let state = state();
    let none = BTreeSet::new();
    StateDir::create(dir.path(), &snapshot(&state, &none, &none), 5, b"app".to_vec()).unwrap();
    let opened = StateDir::open(dir.path()).unwrap();
    let meta = opened.meta();
    assert_eq!((meta.seq, meta.cycles, meta.version, &meta.app[..]), (5, 77, 3, &b"app"[..]));
    assert_eq!(meta.globals, vec![GlobalValue::I32(-5), GlobalValue::I64(9)]);
    let (heap, stable) = opened.load().unwrap();
    assert_eq!(heap, state.heap);
    assert_eq!(stable.to_vec(), state.stable.to_vec());
}

#[test]
fn only_changed_pages_are_written_and_sizes_follow() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state();
    let none = BTreeSet::new();
    let mut checkpoints =
        StateDir::create(dir.path(), &snapshot(&state, &none, &none), 1, vec![]).unwrap();
    state.heap[CHUNK + 5] = 9;
    state.heap.extend_from_slice(&[3u8; CHUNK]);
    state.stable.begin();
    state.stable.grow(1, 100);
    state.stable.write(3 * CHUNK as u64 + 1, b"new chunk");
    state.stable.commit();
    let dirty_heap: BTreeSet<usize> = [CHUNK / PAGE_SIZE]
        .into_iter()
        .chain(2 * CHUNK / PAGE_SIZE..3 * CHUNK / PAGE_SIZE)
        .collect();
    let dirty_stable = state.stable.take_dirty();
    checkpoints.checkpoint(&snapshot(&state, &dirty_heap, &dirty_stable), 2, vec![]).unwrap();
    let (heap, stable) = StateDir::open(dir.path()).unwrap().load().unwrap();
    assert_eq!(heap, state.heap);
    assert_eq!(stable.to_vec(), state.stable.to_vec());
    assert!(!dir.path().join(DELTA).exists());
}

#[test]
fn an_interrupted_checkpoint_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = state();
    let none = BTreeSet::new();
    let checkpoints =
        StateDir::create(dir.path(), &snapshot(&state, &none, &none), 1, vec![]).unwrap();
    // The delta reached the disk; the crash came before it was applied.
    state.heap[100] = 42;
    let mut meta = checkpoints.meta().clone();
    meta.seq = 2;
    meta.heap_crcs[0] = crc32fast::hash(&heap_chunk(&state.heap, 0));
    let mut pages = Pages::default();
    pages.push(0, 0, |bytes| bytes.copy_from_slice(&state.heap[..PAGE_SIZE]));
    write_atomically(dir.path(), DELTA, &encode_delta(&pages, &meta)).unwrap();

    let opened = StateDir::open(dir.path()).unwrap();
    assert_eq!(opened.meta().seq, 2);
    assert_eq!(opened.load().unwrap().0, state.heap);
    assert!(!dir.path().join(DELTA).exists());
}

#[test]
fn corruption_and_truncation_are_errors() {
    let state = state();
    let none = BTreeSet::new();
    let fresh = || {
        let dir = tempfile::tempdir().unwrap();
        StateDir::create(dir.path(), &snapshot(&state, &none, &none), 1, vec![]).unwrap();
        dir
    };
    let flip = |path: PathBuf, at: usize| {
        let mut bytes = fs::read(&path).unwrap();
        bytes[at] ^= 1;
        fs::write(&path, bytes).unwrap();
    };

    let dir = fresh();
    flip(dir.path().join(STABLE), 70_003);
    let error = StateDir::open(dir.path()).unwrap().load().err().unwrap();
    assert!(error.to_string().contains("stable.img is corrupted in chunk 1"), "{error}");

    let dir = fresh();
    File::options().write(true).open(dir.path().join(HEAP)).unwrap().set_len(100).unwrap();
    let error = StateDir::open(dir.path()).unwrap().load().err().unwrap();
    assert!(error.to_string().contains("heap.img is truncated"), "{error}");

    let dir = fresh();
    flip(dir.path().join(META), 20);
    let error = StateDir::open(dir.path()).err().unwrap();
    assert!(error.to_string().contains("not a valid checkpoint: checksum mismatch"), "{error}");

    let dir = fresh();
    fs::remove_file(dir.path().join(META)).unwrap();
    let error = StateDir::open(dir.path()).err().unwrap();
    assert!(error.to_string().contains("cannot read the checkpoint"), "{error}");

    let dir = fresh();
    fs::write(
        dir.path().join(DELTA),
        b"CEVMDLTA garbage that is long enough to be read as a delta",
    )
    .unwrap();
    let error = StateDir::open(dir.path()).err().unwrap();
    assert!(error.to_string().contains("not a valid checkpoint delta"), "{error}");
}

#[test]
fn checkpoint_layout_is_stable() {
    let state = state();
    let none = BTreeSet::new();
    let dir = tempfile::tempdir().unwrap();
    let checkpoints =
        StateDir::create(dir.path(), &snapshot(&state, &none, &none), 1, vec![]).unwrap();
    let bytes = checkpoints.meta().encode();
    assert_eq!(&bytes[..12], b"CEVMCKPT\x01\x00\x00\x00");
    // Header, sizes, 2 + 3 checksums, 2 globals, system state, app data, digest.
    assert_eq!(
        bytes.len(),
        8 + 4
            + 8
            + 32
            + 8
            + 8
            + (8 + 2 * 4)
            + (8 + 3 * 4)
            + (8 + 2 * 9)
            + 10
            + 8
            + 16
            + 8
            + 8
            + 8
            + 8
            + 32
    );
}

/// Golden bytes of the checkpoint's metadata and of a delta: a change of
/// a byte fails here, and needs a FORMAT_VERSION bump (and a reader of
/// the old format).
#[test]
fn checkpoint_and_delta_bytes_are_pinned() {
    let meta = CheckpointMeta {
        seq: 7,
        module_hash: [0xaa; 32],
        heap_len: 65536,
        stable_pages: 2,
        heap_crcs: vec![0x0102_0304],
        stable_crcs: vec![5, 6],
        globals: vec![GlobalValue::I32(-1), GlobalValue::I64(2), GlobalValue::F64(3)],
        canister_id: vec![1, 2],
        controllers: vec![vec![9]],
        cycles: 1_000,
        version: 4,
        global_timer: 0,
        certified_data: vec![0xcd],
        app: b"app".to_vec(),
    };
    let bytes = meta.encode();
    assert_eq!(
        hex::encode(&bytes),
        concat!(
            "4345564d434b5054010000000700000000000000aaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa000001000000000002000000",
            "0000000001000000000000000403020102000000000000000500000006000000",
            "030000000000000000ffffffff00000000010200000000000000030300000000",
            "000000020000000000000001020100000000000000010000000000000009e803",
            "0000000000000000000000000000040000000000000000000000000000000100",
            "000000000000cd030000000000000061707009e5ef861930421d8a4ccb8365a7",
            "696304849c1a8d9e0e8b9b4121297ea542be"
        ),
        "the checkpoint layout changed"
    );
    assert_eq!(CheckpointMeta::decode(&bytes, Path::new("checkpoint")).unwrap(), meta);
    // Magic, version, count; per page its space, number and bytes; the
    // metadata; SHA-256 of all that.
    let mut pages = Pages::default();
    pages.push(1, 3, |bytes| bytes.fill(0x11));
    let delta = encode_delta(&pages, &meta);
    assert_eq!(
        hex::encode(Sha256::digest(&delta)),
        "6cead229df132bcee57956033a62f7d0d2183124c12da554a3a3d23c15e3118a",
        "the delta layout changed"
    );
}
