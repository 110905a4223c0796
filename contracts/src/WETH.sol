// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// Wrapped ether in the style of WETH9: deposit ether to mint tokens one for
/// one, burn them to withdraw it. The ERC20 part is OpenZeppelin's.
contract WETH is ERC20 {
    /// `dst` deposited `wad` wei and received as many tokens.
    event Deposit(address indexed dst, uint256 wad);
    /// `src` burned `wad` tokens and was sent as many wei.
    event Withdrawal(address indexed src, uint256 wad);

    constructor() ERC20("Wrapped Ether", "WETH") {}

    /// Wraps the ether sent with the call.
    function deposit() public payable {
        _mint(msg.sender, msg.value);
        emit Deposit(msg.sender, msg.value);
    }

    /// Burns `wad` tokens of the caller and sends the caller `wad` wei.
    function withdraw(uint256 wad) external {
        _burn(msg.sender, wad);
        emit Withdrawal(msg.sender, wad);
        (bool ok,) = msg.sender.call{value: wad}("");
        require(ok, "WETH: ether transfer failed");
    }

    /// Plain ether transfers are deposits.
    receive() external payable {
        deposit();
    }
}
