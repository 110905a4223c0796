"""web3.py against canister-evm: contracts, events through filters, errors,
transaction types, WebSocket subscriptions and the node's own accounts.

Run through `cargo test` (tests/e2e/clients.rs), which installs the pinned
requirements into a virtualenv and sets RPC_URL.
"""

import asyncio
import json
import os
from pathlib import Path

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_utils import function_signature_to_4byte_selector, keccak
from web3 import AsyncWeb3, Web3
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    ContractPanicError,
    Web3RPCError,
)
from web3.middleware import SignAndSendRawMiddlewareBuilder
from web3.providers import HTTPProvider, WebSocketProvider

RPC_URL = os.environ.get("RPC_URL")
if not RPC_URL:
    raise RuntimeError("RPC_URL is not set: run these tests through `cargo test`")
WS_URL = "ws" + RPC_URL[len("http") :]
CHAIN_ID = 31337

KEYS = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
]
EMPTY_KEY = "0x" + "01" * 32

ARTIFACTS = Path(__file__).resolve().parents[2] / "contracts" / "artifacts"

w3 = Web3(HTTPProvider(RPC_URL, request_kwargs={"timeout": 60}))
alice, bob, carol = (Account.from_key(key) for key in KEYS)
empty = Account.from_key(EMPTY_KEY)


def artifact(name):
    return json.loads((ARTIFACTS / f"{name}.json").read_text())


def send(account, tx):
    """Fills in what is missing like web3.py's build_transaction (nonce,
    EIP-1559 fees, estimated gas), signs with `account`, sends it raw and
    waits for the receipt."""
    tx = {"from": account.address, "chainId": CHAIN_ID, **tx}
    if "nonce" not in tx:
        tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
    if "gasPrice" not in tx and "maxFeePerGas" not in tx:
        tx["maxPriorityFeePerGas"] = w3.eth.max_priority_fee
        tx["maxFeePerGas"] = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tx["maxPriorityFeePerGas"]
    if "gas" not in tx:
        tx["gas"] = w3.eth.estimate_gas(tx)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == keccak(signed.raw_transaction)
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)


def deploy(name, account, *args):
    """Deploys artifact `name`; returns the contract and its receipt."""
    art = artifact(name)
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor(*args).build_transaction({"from": account.address})
    receipt = send(account, tx)
    assert receipt["status"] == 1
    assert receipt["contractAddress"]
    return w3.eth.contract(address=receipt["contractAddress"], abi=art["abi"]), receipt


def call_tx(contract_function, account, **extra):
    """Sends a contract function call from `account`; returns the receipt."""
    tx = contract_function.build_transaction({"from": account.address, **extra})
    return send(account, tx)


def decode_custom_error(abi, data):
    """Decodes revert data against the custom errors of `abi`."""
    raw = bytes.fromhex(data[2:])
    for item in abi:
        if item["type"] != "error":
            continue
        types = [i["type"] for i in item["inputs"]]
        if function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})") == raw[:4]:
            return item["name"], decode(types, raw[4:])
    raise AssertionError(f"no custom error matches {data}")


def state_of(address):
    return (
        w3.eth.get_transaction_count(address, "latest"),
        w3.eth.get_balance(address),
        w3.eth.block_number,
    )


def test_the_chain_is_the_dev_chain_with_eip1559_fees():
    assert w3.is_connected()
    assert w3.eth.chain_id == CHAIN_ID
    assert w3.net.version == str(CHAIN_ID)
    block = w3.eth.get_block("latest")
    assert block["baseFeePerGas"] > 0
    assert w3.eth.gas_price > 0
    assert w3.eth.max_priority_fee > 0
    assert w3.eth.get_balance(alice.address, 0) == Web3.to_wei(10000, "ether")
    # web3.py's priority fee fallback: an integer block count, "pending" and
    # float percentiles.
    history = w3.eth.fee_history(10, "pending", [5.0])
    assert len(history["baseFeePerGas"]) == len(history["gasUsedRatio"]) + 1
    assert all(len(r) == 1 for r in history["reward"])
    raw = w3.provider.make_request("eth_feeHistory", [10, "pending", [5.0]])
    assert "result" in raw, raw


def test_deploys_the_erc20_transfers_and_finds_the_transfer_event():
    token, _ = deploy("Token", alice, "Token", "TOK", Web3.to_wei(1000, "ether"))
    assert w3.eth.get_code(token.address) != b""
    assert token.functions.symbol().call() == "TOK"

    # A filter installed before the transfer (eth_newFilter).
    new_transfers = token.events.Transfer.create_filter(from_block="latest", argument_filters={"to": bob.address})
    receipt = call_tx(token.functions.transfer(bob.address, Web3.to_wei(5, "ether")), alice)
    assert receipt["status"] == 1
    assert receipt["to"] == token.address
    assert receipt["gasUsed"] > 21000
    assert receipt["effectiveGasPrice"] > 0
    assert token.functions.balanceOf(bob.address).call() == Web3.to_wei(5, "ether")
    assert token.functions.balanceOf(alice.address).call() == Web3.to_wei(995, "ether")

    changes = new_transfers.get_new_entries()
    assert len(changes) == 1
    assert changes[0]["transactionHash"] == receipt["transactionHash"]
    assert changes[0]["args"]["from"] == alice.address
    assert changes[0]["args"]["value"] == Web3.to_wei(5, "ether")
    assert new_transfers.get_new_entries() == []
    assert w3.eth.uninstall_filter(new_transfers.filter_id)

    # A filter over past blocks (eth_getFilterLogs) and eth_getLogs.
    past = token.events.Transfer.create_filter(from_block=0, argument_filters={"from": alice.address})
    entries = past.get_all_entries()
    assert [e["args"]["to"] for e in entries] == [bob.address]
    logs = token.events.Transfer.get_logs(from_block=0, argument_filters={"to": bob.address})
    assert len(logs) == 1
    assert logs[0]["blockNumber"] == receipt["blockNumber"]
    (event,) = token.events.Transfer().process_receipt(receipt)
    assert event["args"]["to"] == bob.address

    # The transaction and its block.
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["from"] == alice.address
    assert tx["blockHash"] == receipt["blockHash"]
    block = w3.eth.get_block(receipt["blockNumber"])
    assert block["transactions"] == [receipt["transactionHash"]]


def test_a_block_filter_reports_new_blocks():
    blocks = w3.eth.filter("latest")
    receipt = send(alice, {"to": Account.create().address, "value": 1})
    assert receipt["blockHash"] in blocks.get_new_entries()
    assert w3.eth.uninstall_filter(blocks.filter_id)


def test_custom_errors_are_raised_as_contract_custom_error():
    tester, _ = deploy("Tester", alice)
    with pytest.raises(ContractCustomError) as raised:
        tester.functions.checkLimit(5, 2).call()
    assert decode_custom_error(tester.abi, raised.value.data) == ("TooLarge", (5, 2))
    with pytest.raises(ContractCustomError) as raised:
        tester.functions.deny().call({"from": bob.address})
    name, (caller,) = decode_custom_error(tester.abi, raised.value.data)
    assert (name, Web3.to_checksum_address(caller)) == ("Unauthorized", bob.address)
    with pytest.raises(ContractPanicError) as raised:
        tester.functions.divide(1, 0).call()
    assert raised.value.message == "Panic error 0x12: Division by zero."
    assert tester.functions.checkLimit(2, 5).call() == 2


def test_reason_strings_are_raised_in_calls_and_transactions():
    tester, _ = deploy("Tester", alice)
    with pytest.raises(ContractLogicError) as raised:
        tester.functions.onlyOwner().call({"from": bob.address})
    assert raised.value.message == "execution reverted: Tester: caller is not the owner"
    assert tester.functions.onlyOwner().call({"from": alice.address}) is True
    # Building the transaction estimates gas, which reverts with the reason.
    with pytest.raises(ContractLogicError) as raised:
        tester.functions.pay(bob.address, 1).build_transaction({"from": alice.address})
    assert raised.value.message == "execution reverted: Tester: payment failed"
    # Forced through with a gas limit, it is mined with status 0.
    receipt = call_tx(tester.functions.pay(bob.address, 1), alice, gas=100000)
    assert receipt["status"] == 0


def test_nonce_too_low_is_refused_and_changes_nothing():
    to = Account.create().address
    send(carol, {"to": to, "value": 1})
    nonce = w3.eth.get_transaction_count(carol.address)
    before = state_of(carol.address)
    stale = {"to": to, "value": 1, "nonce": nonce - 1}
    # With a gas limit, eth_sendRawTransaction refuses it...
    with pytest.raises(Web3RPCError) as raised:
        send(carol, {**stale, "gas": 21000})
    assert "nonce too low" in raised.value.message
    assert raised.value.rpc_response["error"]["code"] == -32000
    # ...and without, eth_estimateGas.
    with pytest.raises(Web3RPCError, match="nonce too low"):
        send(carol, stale)
    assert state_of(carol.address) == before


def test_insufficient_funds_is_refused_and_changes_nothing():
    to = Account.create().address
    before = state_of(empty.address)
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        send(empty, {"to": to, "value": 1, "gas": 21000})
    assert state_of(empty.address) == before
    before = state_of(carol.address)
    too_much = {"to": to, "value": Web3.to_wei(20000, "ether")}
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        send(carol, too_much)
    with pytest.raises(Web3RPCError, match="insufficient funds"):
        send(carol, {**too_much, "gas": 21000})
    assert state_of(carol.address) == before


def test_legacy_eip2930_and_eip1559_transactions_are_accepted():
    to = Account.create().address
    assert w3.eth.estimate_gas({"from": alice.address, "to": to, "value": 1}) == 21000
    gas_price = w3.eth.gas_price
    tip = w3.eth.max_priority_fee
    max_fee = 2 * w3.eth.get_block("latest")["baseFeePerGas"] + tip
    receipts = [
        send(alice, {"to": to, "value": 1, "gasPrice": gas_price}),
        send(alice, {"type": 1, "to": to, "value": 2, "gasPrice": gas_price, "accessList": []}),
        send(alice, {"type": 2, "to": to, "value": 4, "maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}),
    ]
    assert [(r["type"], r["status"], r["gasUsed"]) for r in receipts] == [(0, 1, 21000), (1, 1, 21000), (2, 1, 21000)]
    txs = [w3.eth.get_transaction(r["transactionHash"]) for r in receipts]
    assert [t["type"] for t in txs] == [0, 1, 2]
    assert txs[0]["gasPrice"] == gas_price
    assert txs[2]["maxFeePerGas"] == max_fee
    assert w3.eth.get_balance(to) == 7


def test_a_keccak_loop_runs_in_a_call_and_in_a_transaction():
    tester, _ = deploy("Tester", alice)
    expected = b"\0" * 32
    for _ in range(100):
        expected = keccak(expected)
    assert tester.functions.keccakLoop(b"\0" * 32, 100).call() == expected
    receipt = call_tx(tester.functions.keccakStore(b"\0" * 32, 100), alice)
    assert receipt["status"] == 1
    assert tester.functions.values(0).call() == int.from_bytes(expected, "big")


def test_the_sign_and_send_raw_middleware_fills_and_signs():
    local = Web3(HTTPProvider(RPC_URL))
    local.middleware_onion.inject(SignAndSendRawMiddlewareBuilder.build(carol), layer=0)
    to = Account.create().address
    tx_hash = local.eth.send_transaction({"from": carol.address, "to": to, "value": 3})
    receipt = local.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)
    assert receipt["status"] == 1
    assert receipt["type"] == 2
    assert local.eth.get_balance(to) == 3


def test_the_node_signs_for_its_dev_accounts():
    accounts = w3.eth.accounts
    assert accounts[:3] == [alice.address, bob.address, carol.address]
    to = Account.create().address
    # eth_sendTransaction: the node fills nonce, gas and fees and signs.
    tx_hash = w3.eth.send_transaction({"from": bob.address, "to": to, "value": 5})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60, poll_latency=0.1)
    assert receipt["status"] == 1
    assert receipt["from"] == bob.address
    assert w3.eth.get_balance(to) == 5

    art = artifact("Tester")
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    deployed = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": bob.address}))
    tester = w3.eth.contract(address=deployed["contractAddress"], abi=art["abi"])
    stored = w3.eth.wait_for_transaction_receipt(tester.functions.store(1, 42).transact({"from": bob.address}))
    (event,) = tester.events.Stored().process_receipt(stored)
    assert event["args"]["by"] == bob.address
    assert tester.functions.values(1).call() == 42

    # eth_sign
    signature = w3.eth.sign(bob.address, text="hello canister")
    assert Account.recover_message(encode_defunct(text="hello canister"), signature=signature) == bob.address
    # eth_signTypedData_v4 (web3.py's sign_typed_data sends eth_signTypedData,
    # which neither the node nor anvil nor Hardhat serve).
    typed = {
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
            ],
            "Mail": [{"name": "to", "type": "address"}, {"name": "contents", "type": "string"}],
        },
        "domain": {"name": "Canister", "version": "1", "chainId": CHAIN_ID},
        "primaryType": "Mail",
        "message": {"to": to, "contents": "hi"},
    }
    response = w3.provider.make_request("eth_signTypedData_v4", [bob.address, typed])
    signer = Account.recover_message(encode_typed_data(full_message=typed), signature=response["result"])
    assert signer == bob.address


def test_websocket_subscriptions_deliver_new_blocks_and_logs():
    async def run():
        async with AsyncWeb3(WebSocketProvider(WS_URL)) as ws:
            assert await ws.eth.chain_id == CHAIN_ID
            token, _ = deploy("Token", alice, "Token", "TOK", 1000)
            to = Account.create().address
            heads = await ws.eth.subscribe("newHeads")
            # web3.py fails every notification whose subscription id is
            # not a hex string (as geth, anvil and Hardhat send it).
            assert isinstance(heads, str) and heads.startswith("0x"), heads
            logs = await ws.eth.subscribe("logs", {"address": token.address})
            seen = {}
            sent = []

            async def listen():
                async for message in ws.socket.process_subscriptions():
                    seen.setdefault(message["subscription"], message["result"])
                    if heads in seen and logs in seen:
                        return

            async def transfer_until_heard(listener):
                # A subscription may start after the first transfer.
                while not listener.done():
                    receipt = await asyncio.to_thread(call_tx, token.functions.transfer(to, 1), alice)
                    sent.append(receipt["transactionHash"])
                    await asyncio.wait([listener], timeout=0.5)

            listener = asyncio.ensure_future(listen())
            await asyncio.wait_for(transfer_until_heard(listener), 60)
            await listener
            head, log = seen[heads], seen[logs]
            assert head["number"] > 0
            assert head["baseFeePerGas"] > 0
            assert log["address"] == token.address
            assert log["transactionHash"] in sent
            assert await ws.eth.unsubscribe(heads)
            assert await ws.eth.unsubscribe(logs)

    asyncio.run(run())
