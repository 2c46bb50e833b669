using System.Numerics;

namespace FluxStudio.Engine.Training;

/// <summary>
/// Python's <c>random.Random</c> (CPython's Mersenne Twister MT19937): the generator the original app's trainer seeds
/// with the training seed and draws from, in this order, for the epoch shuffles and for each example's time and noise
/// seeds. Same seed, same calls: the same numbers as Python, and a state in Python's <c>getstate()</c> form, so a
/// run can be continued exactly from a saved state (ours or the original app's).
/// </summary>
public sealed class PythonRandom
{
    /// <summary>The version number of Python's state tuple.</summary>
    public const int StateVersion = 3;

    private const int N = 624;
    private const int M = 397;
    private readonly uint[] _mt = new uint[N];
    private int _index;

    /// <summary>Seeded as <c>random.Random(seed)</c> with a non-negative integer.</summary>
    public PythonRandom(BigInteger seed)
    {
        if (seed.Sign < 0) seed = BigInteger.Negate(seed);
        var bytes = seed.ToByteArray(isUnsigned: true, isBigEndian: false);
        var key = new uint[Math.Max(1, (bytes.Length + 3) / 4)];
        for (int i = 0; i < bytes.Length; i++) key[i / 4] |= (uint)bytes[i] << (8 * (i % 4));
        InitByArray(key);
    }

    private PythonRandom()
    {
    }

    /// <summary>The next 32 random bits (genrand_uint32).</summary>
    public uint NextUInt32()
    {
        if (_index >= N) Twist();
        uint y = _mt[_index++];
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c5680u;
        y ^= (y << 15) & 0xefc60000u;
        y ^= y >> 18;
        return y;
    }

    /// <summary><c>getrandbits(k)</c>: k random bits, made of 32-bit words from the lowest up.</summary>
    public BigInteger GetRandBits(int bits)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bits);
        if (bits <= 32) return bits == 0 ? BigInteger.Zero : NextUInt32() >> (32 - bits);
        var value = BigInteger.Zero;
        for (int shift = 0; bits > 0; shift += 32, bits -= 32)
        {
            uint word = NextUInt32();
            if (bits < 32) word >>= 32 - bits;
            value |= (BigInteger)word << shift;
        }
        return value;
    }

    /// <summary><c>_randbelow(n)</c>: uniform in [0, n) by rejection on bit_length(n) random bits.</summary>
    public BigInteger RandBelow(BigInteger n)
    {
        if (n.Sign <= 0) return BigInteger.Zero;
        int bits = (int)n.GetBitLength();
        var value = GetRandBits(bits);
        while (value >= n) value = GetRandBits(bits);
        return value;
    }

    /// <summary><c>randint(a, b)</c>: uniform in [a, b], both ends included.</summary>
    public BigInteger RandInt(BigInteger low, BigInteger high)
    {
        if (high < low) throw new ArgumentException($"randint needs low ≤ high, got {low} and {high}.");
        return low + RandBelow(high - low + 1);
    }

    /// <summary><c>shuffle(list)</c>, in place (Fisher–Yates from the end).</summary>
    public void Shuffle<T>(IList<T> items)
    {
        for (int i = items.Count - 1; i > 0; i--)
        {
            int j = (int)RandBelow(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }

    /// <summary>The 624 state words followed by the position, as the middle item of Python's <c>getstate()</c>.</summary>
    public long[] GetState() => [.. _mt.Select(word => (long)word), _index];

    /// <summary>A generator in the state <see cref="GetState"/> (or Python's <c>getstate()[1]</c>) describes.</summary>
    public static PythonRandom FromState(IReadOnlyList<long> state)
    {
        if (state.Count != N + 1)
            throw new ArgumentException($"A Mersenne Twister state has {N + 1} numbers (624 words and a position); this one has {state.Count}.");
        if (state[N] is < 0 or > N)
            throw new ArgumentException($"The state's position {state[N]} is outside 0…{N}.");
        var random = new PythonRandom();
        for (int i = 0; i < N; i++)
        {
            if (state[i] is < 0 or > uint.MaxValue)
                throw new ArgumentException($"State word {i} ({state[i]}) is not a 32-bit unsigned number.");
            random._mt[i] = (uint)state[i];
        }
        random._index = (int)state[N];
        return random;
    }

    private void InitGenRand(uint seed)
    {
        _mt[0] = seed;
        for (int i = 1; i < N; i++)
            _mt[i] = 1812433253u * (_mt[i - 1] ^ (_mt[i - 1] >> 30)) + (uint)i;
        _index = N;
    }

    private void InitByArray(uint[] key)
    {
        InitGenRand(19650218u);
        int i = 1, j = 0;
        for (int k = Math.Max(N, key.Length); k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint)j;
            i++;
            j++;
            if (i >= N)
            {
                _mt[0] = _mt[N - 1];
                i = 1;
            }
            if (j >= key.Length) j = 0;
        }
        for (int k = N - 1; k > 0; k--)
        {
            _mt[i] = (_mt[i] ^ ((_mt[i - 1] ^ (_mt[i - 1] >> 30)) * 1566083941u)) - (uint)i;
            i++;
            if (i >= N)
            {
                _mt[0] = _mt[N - 1];
                i = 1;
            }
        }
        _mt[0] = 0x80000000u;
    }

    private void Twist()
    {
        for (int k = 0; k < N; k++)
        {
            uint y = (_mt[k] & 0x80000000u) | (_mt[(k + 1) % N] & 0x7fffffffu);
            _mt[k] = _mt[(k + M) % N] ^ (y >> 1) ^ ((y & 1) != 0 ? 0x9908b0dfu : 0u);
        }
        _index = 0;
    }
}
