// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// A minimal Uniswap-v2-style constant-product pair of two ERC20 tokens, with
/// a 0.3 % swap fee. The pair is itself the ERC20 of its liquidity shares.
contract Pair is ERC20 {
    using SafeERC20 for IERC20;

    /// Shares minted with the first deposit and locked forever, so the share
    /// price can never be pushed to extremes.
    uint256 public constant MINIMUM_LIQUIDITY = 1000;
    /// Where the locked shares go (OpenZeppelin's ERC20 refuses address(0)).
    address public constant DEAD = 0x000000000000000000000000000000000000dEaD;

    IERC20 public immutable token0;
    IERC20 public immutable token1;

    uint112 private reserve0;
    uint112 private reserve1;

    /// The reserves now match the pair's balances.
    event Sync(uint112 reserve0, uint112 reserve1);
    /// `sender` swapped the `In` amounts for the `Out` amounts, sent to `to`.
    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );

    constructor(IERC20 token0_, IERC20 token1_) ERC20("Pair LP", "LP") {
        require(address(token0_) != address(token1_), "Pair: identical tokens");
        token0 = token0_;
        token1 = token1_;
    }

    /// The reserves of token0 and token1.
    function getReserves() external view returns (uint112, uint112) {
        return (reserve0, reserve1);
    }

    /// Takes `amount0` of token0 and `amount1` of token1 from the caller (who
    /// must have approved them) and mints liquidity shares to `to`.
    function addLiquidity(uint256 amount0, uint256 amount1, address to) external returns (uint256 liquidity) {
        (uint256 r0, uint256 r1) = (reserve0, reserve1);
        token0.safeTransferFrom(msg.sender, address(this), amount0);
        token1.safeTransferFrom(msg.sender, address(this), amount1);

        uint256 supply = totalSupply();
        if (supply == 0) {
            liquidity = Math.sqrt(amount0 * amount1) - MINIMUM_LIQUIDITY;
            _mint(DEAD, MINIMUM_LIQUIDITY);
        } else {
            liquidity = Math.min(amount0 * supply / r0, amount1 * supply / r1);
        }
        require(liquidity > 0, "Pair: insufficient liquidity minted");
        _mint(to, liquidity);
        _sync();
    }

    /// Takes `amountIn` of `tokenIn` from the caller (who must have approved
    /// it) and sends `to` at least `amountOutMin` of the other token.
    function swap(address tokenIn, uint256 amountIn, uint256 amountOutMin, address to)
        external
        returns (uint256 amountOut)
    {
        bool zeroForOne = tokenIn == address(token0);
        require(zeroForOne || tokenIn == address(token1), "Pair: unknown token");
        require(amountIn > 0, "Pair: insufficient input amount");
        (uint256 reserveIn, uint256 reserveOut) = zeroForOne ? (reserve0, reserve1) : (reserve1, reserve0);
        require(reserveIn > 0 && reserveOut > 0, "Pair: insufficient liquidity");

        uint256 amountInWithFee = amountIn * 997;
        amountOut = amountInWithFee * reserveOut / (reserveIn * 1000 + amountInWithFee);
        require(amountOut >= amountOutMin, "Pair: insufficient output amount");

        (IERC20 inToken, IERC20 outToken) = zeroForOne ? (token0, token1) : (token1, token0);
        inToken.safeTransferFrom(msg.sender, address(this), amountIn);
        outToken.safeTransfer(to, amountOut);
        _sync();

        if (zeroForOne) emit Swap(msg.sender, amountIn, 0, 0, amountOut, to);
        else emit Swap(msg.sender, 0, amountIn, amountOut, 0, to);
    }

    /// Sets the reserves to the pair's balances.
    function _sync() private {
        uint112 balance0 = SafeCast.toUint112(token0.balanceOf(address(this)));
        uint112 balance1 = SafeCast.toUint112(token1.balanceOf(address(this)));
        (reserve0, reserve1) = (balance0, balance1);
        emit Sync(balance0, balance1);
    }
}
