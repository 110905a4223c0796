//! The canister's exports: decode, call [`Chain`], reply.

use crate::Chain;
use candid::CandidType;
use evm_canister_api::http::{HttpRequest, HttpResponse, HttpUpdateRequest};
use evm_canister_api::{
    AccessListOutcome, AccountEdit, AccountProof, AccountState, Address, BlockTag, BlockView,
    CallArgs, CallError, CallOutcome, ChainInfo, Estimate, FeeHistory, Hash, InitArgs, LogFilter,
    LogView, MinedBlock, MiningMode, PooledTx, QueryError, ReceiptView, StateOverride,
    SubmitResult, TransactionView, TxError,
};
use ic_stable_structures::DefaultMemoryImpl;
use serde_bytes::ByteBuf;
use std::cell::RefCell;

thread_local! {
    static CHAIN: RefCell<Option<Chain<DefaultMemoryImpl>>> = const { RefCell::new(None) };
}

fn with_chain<R>(f: impl FnOnce(&Chain<DefaultMemoryImpl>) -> R) -> R {
    CHAIN.with_borrow(|chain| f(chain.as_ref().expect("the chain is initialised")))
}

fn with_chain_mut<R>(f: impl FnOnce(&mut Chain<DefaultMemoryImpl>) -> R) -> R {
    CHAIN.with_borrow_mut(|chain| f(chain.as_mut().expect("the chain is initialised")))
}

#[ic_cdk::init]
fn init(args: InitArgs) {
    match Chain::create(DefaultMemoryImpl::default(), &args) {
        Ok(chain) => CHAIN.set(Some(chain.with_instruction_counter(performance_counter))),
        Err(err) => ic_cdk::trap(format!("invalid genesis: {err}")),
    }
    warm_up();
}

/// Leaves in the committed heap what queries would otherwise build and
/// discard every time: every method's Candid types ([`prepare_messages`]),
/// then what the EVM builds on first use, by running one call and
/// discarding it, with the memory it allocated and freed. A query's changes
/// to the heap are discarded, so otherwise every `eth_call` before the
/// first transaction builds it again, and grows the heap doing so, and the
/// host must then restore the canister into a fresh instance (4x the
/// node's CPU per call, measured). Deterministic: it depends only on the
/// state and the message's time.
fn warm_up() {
    let args = CallArgs {
        to: Some(alloy_primitives::Address::with_last_byte(4).into()),
        ..CallArgs::default()
    };
    // The types first: what they keep must not take the memory the call
    // frees, or a query's call grows the heap again.
    // Account edits are stored as Candid (`Chain::edit_account`).
    evm_canister_api::encode::prepare::<(AccountEdit,)>().expect("an AccountEdit encodes");
    prepare_messages();
    let _ = with_chain(|chain| chain.call(&args, BlockTag::Latest, &[], ic_cdk::api::time()));
}

/// Every method's arguments and reply, one entry per method of the
/// service (a test counts them against `evm.did`), for [`prepare_messages`].
macro_rules! messages {
    ($(($($arg:ty),*) -> $reply:ty;)*) => {
        /// Builds the type part of every method's reply and fills candid's
        /// memo of Rust types with every method's arguments, in the
        /// committed heap (see [`evm_canister_api::encode`]): a query that
        /// had to build them would discard them, and build them again the
        /// next time. A method missing here still works, building them
        /// each time.
        fn prepare_messages() {
            use evm_canister_api::encode::{prepare, remember};
            // `prepare` clears the memo: all of them first.
            $(prepare::<($reply,)>().expect("a reply type encodes");)*
            $(remember::<($($arg,)*)>();)*
        }

        /// How many methods [`prepare_messages`] prepares.
        #[cfg(test)]
        const PREPARED_METHODS: usize = [$(stringify!($reply)),*].len();
    };
}

messages! {
    () -> MinedBlock;
    (ByteBuf, Address) -> Result<SubmitResult, TxError>;
    (AccountEdit) -> ();
    () -> u64;
    (u64) -> bool;
    (MiningMode) -> Vec<MinedBlock>;
    () -> MiningMode;
    () -> Vec<PooledTx>;
    (Hash) -> Option<PooledTx>;
    (ByteBuf) -> Result<SubmitResult, TxError>;
    () -> ChainInfo;
    (Address, BlockTag) -> Result<AccountState, QueryError>;
    (Address, BlockTag) -> Result<ByteBuf, QueryError>;
    (Address, Hash, BlockTag) -> Result<Hash, QueryError>;
    (Address, Vec<Hash>, BlockTag) -> Result<AccountProof, QueryError>;
    (CallArgs, BlockTag, Vec<StateOverride>) -> Result<CallOutcome, CallError>;
    (CallArgs, BlockTag, Vec<StateOverride>) -> Result<Estimate, CallError>;
    (CallArgs, BlockTag, Vec<StateOverride>) -> Result<AccessListOutcome, CallError>;
    (Hash, String) -> Result<Option<String>, QueryError>;
    (BlockTag, String) -> Result<Vec<(Hash, String)>, QueryError>;
    (CallArgs, BlockTag, String) -> Result<String, CallError>;
    (BlockTag, bool) -> Option<BlockView>;
    (Hash) -> Option<TransactionView>;
    (Hash) -> Option<ReceiptView>;
    (BlockTag) -> Option<Vec<ReceiptView>>;
    (LogFilter) -> Result<Vec<LogView>, QueryError>;
    (u64, BlockTag, Vec<f64>) -> Result<FeeHistory, QueryError>;
    (HttpRequest) -> HttpResponse;
    (HttpUpdateRequest) -> HttpResponse;
}

// All state is in stable memory, so there is nothing to save before an upgrade.
#[cfg(not(feature = "upgrade-probe"))]
#[ic_cdk::post_upgrade]
fn post_upgrade() {
    let chain = Chain::load(DefaultMemoryImpl::default());
    CHAIN.set(Some(chain.with_instruction_counter(performance_counter)));
    warm_up();
}

/// The probe build's upgrade hook traps when its argument says "trap", to
/// test that a failed upgrade leaves the old canister running.
#[cfg(feature = "upgrade-probe")]
#[ic_cdk::post_upgrade]
fn post_upgrade(arg: Option<String>) {
    let chain = Chain::load(DefaultMemoryImpl::default());
    CHAIN.set(Some(chain.with_instruction_counter(performance_counter)));
    warm_up();
    if arg.as_deref() == Some("trap") {
        ic_cdk::trap("post_upgrade asked to trap");
    }
}

/// A method only the probe build has: a test upgrades to it and calls it.
#[cfg(feature = "upgrade-probe")]
#[ic_cdk::query(manual_reply = true)]
fn upgrade_probe() -> String {
    respond(format!("upgraded; head block {}", with_chain(|chain| chain.info().latest_block)))
}

/// Refuses an ingress message before the canister accepts it, and before it
/// costs cycles, when its update would refuse it anyway. Nothing is
/// executed and nothing changes: a transaction is checked as
/// [`Chain::inspect`] checks it (decoding, size, chain id, signature,
/// nonce, payability), and the dev-node controls are refused to anyone but
/// a controller. A controller's messages are accepted unchecked: its
/// updates still refuse what is invalid, and the node, a controller, would
/// otherwise recover every sender twice.
#[ic_cdk::inspect_message]
fn inspect_message() {
    let caller = ic_cdk::api::msg_caller();
    if !ic_cdk::api::is_controller(&caller) {
        match ic_cdk::api::msg_method_name().as_str() {
            "send_raw_transaction" => {
                let raw: ByteBuf = candid::decode_one(&ic_cdk::api::msg_arg_data())
                    .unwrap_or_else(|err| ic_cdk::trap(format!("undecodable argument: {err}")));
                if let Err(err) = with_chain(|chain| chain.inspect(&raw, ic_cdk::api::time())) {
                    ic_cdk::trap(format!("transaction refused: {err}"));
                }
            }
            // The gateway's upgrade: the body is JSON-RPC, whose transactions
            // the update checks and answers with JSON-RPC errors, as a wallet
            // expects; only what is not even an HTTP request is refused.
            "http_request_update" => {
                if let Err(err) =
                    candid::decode_one::<HttpUpdateRequest>(&ic_cdk::api::msg_arg_data())
                {
                    ic_cdk::trap(format!("undecodable argument: {err}"));
                }
            }
            "mine"
            | "send_impersonated_transaction"
            | "edit_account"
            | "snapshot"
            | "revert"
            | "set_mining_mode" => {
                ic_cdk::trap("only a controller of the canister may call this method")
            }
            _ => {}
        }
    }
    ic_cdk::api::accept_message();
}

/// Replies with `value`, encoded through [`evm_canister_api::encode`] (its
/// type table prepared by [`prepare_messages`]), and returns it for the
/// method's declared result. The methods reply manually
/// (`manual_reply = true`) because ic-cdk's `encode_with` would declare
/// their result as `blob` in `evm.did`.
fn respond<T: CandidType + 'static>(value: T) -> T {
    let message = (value,);
    let bytes = evm_canister_api::encode::encode(&message)
        .unwrap_or_else(|err| ic_cdk::trap(format!("the reply does not encode: {err}")));
    ic_cdk::api::msg_reply(bytes);
    message.0
}

/// Traps unless a controller of the canister called: the dev-node controls
/// change the chain in ways no user may.
fn controllers_only() {
    if !ic_cdk::api::is_controller(&ic_cdk::api::msg_caller()) {
        ic_cdk::trap("only a controller of the canister may call this method");
    }
}

fn performance_counter() -> u64 {
    ic_cdk::api::performance_counter(0)
}

/// Produces a block with the pool's executable transactions, or an empty
/// one (`evm_mine` of dev tools). Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn mine() -> MinedBlock {
    controllers_only();
    respond(with_chain_mut(|chain| chain.mine(ic_cdk::api::time())))
}

/// Accepts a transaction as sent by `from`, whatever its signature
/// (`anvil_impersonateAccount`). Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn send_impersonated_transaction(raw: ByteBuf, from: Address) -> Result<SubmitResult, TxError> {
    controllers_only();
    respond(with_chain_mut(|chain| chain.submit_as(&raw, from.0, ic_cdk::api::time())))
}

/// Sets an account's balance, nonce, code or storage (`anvil_setBalance`
/// & co). Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn edit_account(edit: AccountEdit) {
    controllers_only();
    with_chain_mut(|chain| chain.edit_account(&edit));
    respond(())
}

/// Records the chain's current state; returns the snapshot's id
/// (`evm_snapshot`). Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn snapshot() -> u64 {
    controllers_only();
    respond(with_chain_mut(|chain| chain.snapshot()))
}

/// Returns the chain to snapshot `id`, which is used up with every later
/// one (`evm_revert`); `false` if there is no such snapshot. Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn revert(id: u64) -> bool {
    controllers_only();
    respond(with_chain_mut(|chain| chain.revert(id)))
}

/// Turns automine on or off (`evm_setAutomine`); returns the blocks mined
/// from the pool when it is turned on. Controllers only.
#[ic_cdk::update(manual_reply = true)]
fn set_mining_mode(mode: MiningMode) -> Vec<MinedBlock> {
    controllers_only();
    respond(with_chain_mut(|chain| chain.set_mining_mode(mode, ic_cdk::api::time())))
}

#[ic_cdk::query(manual_reply = true)]
fn mining_mode() -> MiningMode {
    respond(with_chain(|chain| chain.mining_mode()))
}

/// The transactions waiting in the pool (`txpool_content`).
#[ic_cdk::query(manual_reply = true)]
fn pool_content() -> Vec<PooledTx> {
    respond(with_chain(|chain| chain.pool_content()))
}

#[ic_cdk::query(manual_reply = true)]
fn get_pooled_transaction(hash: Hash) -> Option<PooledTx> {
    respond(with_chain(|chain| chain.pooled_transaction(hash.0)))
}

#[ic_cdk::update(manual_reply = true)]
fn send_raw_transaction(raw: ByteBuf) -> Result<SubmitResult, TxError> {
    respond(with_chain_mut(|chain| chain.submit(&raw, ic_cdk::api::time())))
}

#[ic_cdk::query(manual_reply = true)]
fn chain_info() -> ChainInfo {
    respond(with_chain(|chain| chain.info()))
}

#[ic_cdk::query(manual_reply = true)]
fn get_account(address: Address, block: BlockTag) -> Result<AccountState, QueryError> {
    respond(with_chain(|chain| chain.account(address.0, block)))
}

#[ic_cdk::query(manual_reply = true)]
fn get_code(address: Address, block: BlockTag) -> Result<ByteBuf, QueryError> {
    respond(with_chain(|chain| chain.code(address.0, block).map(|code| code.to_vec().into())))
}

#[ic_cdk::query(manual_reply = true)]
fn get_storage(address: Address, slot: Hash, block: BlockTag) -> Result<Hash, QueryError> {
    respond(with_chain(|chain| chain.storage(address.0, slot.0, block).map(Hash)))
}

#[ic_cdk::query(manual_reply = true)]
fn get_proof(
    address: Address,
    slots: Vec<Hash>,
    block: BlockTag,
) -> Result<AccountProof, QueryError> {
    let slots: Vec<_> = slots.into_iter().map(|slot| slot.0).collect();
    respond(with_chain(|chain| chain.proof(address.0, &slots, block)))
}

/// Executes a message at `block`, on the state changed by `overrides`,
/// without committing it (`eth_call`).
#[ic_cdk::query(manual_reply = true)]
fn call(
    args: CallArgs,
    block: BlockTag,
    overrides: Vec<StateOverride>,
) -> Result<CallOutcome, CallError> {
    respond(with_chain(|chain| chain.call(&args, block, &overrides, ic_cdk::api::time())))
}

#[ic_cdk::query(manual_reply = true)]
fn estimate_gas(
    args: CallArgs,
    block: BlockTag,
    overrides: Vec<StateOverride>,
) -> Result<Estimate, CallError> {
    respond(with_chain(|chain| chain.estimate_gas(&args, block, &overrides, ic_cdk::api::time())))
}

/// The access list a message would use and its gas with it
/// (`eth_createAccessList`).
#[ic_cdk::query(manual_reply = true)]
fn create_access_list(
    args: CallArgs,
    block: BlockTag,
    overrides: Vec<StateOverride>,
) -> Result<AccessListOutcome, CallError> {
    respond(with_chain(|chain| {
        chain.create_access_list(&args, block, &overrides, ic_cdk::api::time())
    }))
}

/// The geth trace of an included transaction (`debug_traceTransaction`):
/// `options` are the tracer options as JSON, the reply is the trace as
/// JSON; `None` if there is no such transaction.
#[ic_cdk::query(manual_reply = true)]
fn trace_transaction(hash: Hash, options: String) -> Result<Option<String>, QueryError> {
    respond(with_chain(|chain| chain.trace_transaction(hash.0, &options)))
}

/// The geth traces of every transaction of a block, in order, as pairs of
/// hash and JSON trace (`debug_traceBlockByNumber`); the block is replayed
/// once.
#[ic_cdk::query(manual_reply = true)]
fn trace_block(block: BlockTag, options: String) -> Result<Vec<(Hash, String)>, QueryError> {
    respond(with_chain(|chain| {
        let traces = chain.trace_block(block, &options)?;
        Ok(traces.into_iter().map(|(hash, json)| (hash.into(), json)).collect())
    }))
}

/// The geth trace of a message executed at `block` (`debug_traceCall`).
#[ic_cdk::query(manual_reply = true)]
fn trace_call(args: CallArgs, block: BlockTag, options: String) -> Result<String, CallError> {
    respond(with_chain(|chain| chain.trace_call(&args, block, &options, ic_cdk::api::time())))
}

#[ic_cdk::query(manual_reply = true)]
fn get_block(block: BlockTag, full_transactions: bool) -> Option<BlockView> {
    respond(with_chain(|chain| chain.block(block, full_transactions)))
}

#[ic_cdk::query(manual_reply = true)]
fn get_transaction(hash: Hash) -> Option<TransactionView> {
    respond(with_chain(|chain| chain.transaction(hash.0)))
}

#[ic_cdk::query(manual_reply = true)]
fn get_receipt(hash: Hash) -> Option<ReceiptView> {
    respond(with_chain(|chain| chain.receipt(hash.0)))
}

/// Every receipt of a block in one query (`eth_getBlockReceipts`), instead
/// of one per transaction.
#[ic_cdk::query(manual_reply = true)]
fn get_block_receipts(block: BlockTag) -> Option<Vec<ReceiptView>> {
    respond(with_chain(|chain| chain.block_receipts(block)))
}

#[ic_cdk::query(manual_reply = true)]
fn get_logs(filter: LogFilter) -> Result<Vec<LogView>, QueryError> {
    respond(with_chain(|chain| chain.logs(&filter)))
}

#[ic_cdk::query(manual_reply = true)]
fn fee_history(
    block_count: u64,
    newest_block: BlockTag,
    reward_percentiles: Vec<f64>,
) -> Result<FeeHistory, QueryError> {
    respond(with_chain(|chain| chain.fee_history(block_count, newest_block, &reward_percentiles)))
}

/// Ethereum JSON-RPC over the IC's HTTP gateway (`POST` a JSON-RPC body to
/// `https://<canister-id>.raw.icp0.io`): read methods are answered here; a
/// body that sends a transaction is answered with `upgrade = opt true`, and
/// the gateway sends it again to `http_request_update`.
#[ic_cdk::query(manual_reply = true)]
fn http_request(request: HttpRequest) -> HttpResponse {
    respond(with_chain(|chain| crate::http::query(chain, &request, ic_cdk::api::time())))
}

/// JSON-RPC that changes the chain (`eth_sendRawTransaction`), as the
/// gateway's upgrade of [`http_request`].
#[ic_cdk::update(manual_reply = true)]
fn http_request_update(request: HttpUpdateRequest) -> HttpResponse {
    respond(with_chain_mut(|chain| crate::http::update(chain, &request, ic_cdk::api::time())))
}

ic_cdk::export_candid!();

#[cfg(test)]
mod tests {
    /// `evm.did` is the interface the exports declare. Run with
    /// `UPDATE_DID=1` to rewrite it after changing a method.
    #[test]
    fn the_did_file_matches_the_exports() {
        let declared = super::__export_service();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/evm.did");
        if std::env::var_os("UPDATE_DID").is_some() {
            std::fs::write(path, &declared).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == declared,
            "evm-canister/evm.did is out of date; run `UPDATE_DID=1 cargo test -p evm-canister the_did_file` and review the diff"
        );
    }

    /// A method added without its entry in `messages!` would build its
    /// reply's types on every call.
    #[test]
    fn every_method_has_its_types_prepared() {
        let declared = super::__export_service();
        let service = &declared[declared.find("service :").expect("a service")..];
        let methods = service
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                !line.starts_with("//")
                    && !line.starts_with("service")
                    && line.split_once(" : (").is_some()
            })
            .count();
        assert_eq!(super::PREPARED_METHODS, methods, "{service}");
    }
}
