using System.Buffers.Binary;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Security.Cryptography;

namespace UserTcp.Engine;

/// <summary>
/// A Fast Open server's secret (RFC 7413 §4.1.2): a 16-byte primary key that makes cookies and, while keys rotate, a
/// 16-byte backup key whose cookies are still accepted — Linux's tcp_fastopen_context, written as its
/// net.ipv4.tcp_fastopen_key is: <c>xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx[,backup]</c>, four 32-bit words each stored
/// little-endian (proc_tcp_fastopen_key), which is also the byte order TCP_FASTOPEN_KEY takes.
/// </summary>
public sealed class FastOpenKey : IEquatable<FastOpenKey>
{
    /// <summary>Bytes in one key (TCP_FASTOPEN_KEY_LENGTH).</summary>
    public const int KeyLength = 16;

    // Invariant: 16 bytes; _backup is null or 16 bytes. Never handed out, so the key cannot change.
    private readonly byte[] _primary;
    private readonly byte[]? _backup;

    /// <summary>A key from <paramref name="primary"/> (16 bytes) and an optional <paramref name="backup"/> (empty or 16 bytes).</summary>
    public FastOpenKey(ReadOnlySpan<byte> primary, ReadOnlySpan<byte> backup = default)
    {
        if (primary.Length != KeyLength) throw new ArgumentException($"a Fast Open key is {KeyLength} bytes", nameof(primary));
        if (!backup.IsEmpty && backup.Length != KeyLength) throw new ArgumentException($"a Fast Open backup key is {KeyLength} bytes", nameof(backup));
        _primary = primary.ToArray();
        _backup = backup.IsEmpty ? null : backup.ToArray();
    }

    /// <summary>The key that makes cookies.</summary>
    public ReadOnlySpan<byte> Primary => _primary;
    /// <summary>The key whose cookies are also valid (empty when there is none).</summary>
    public ReadOnlySpan<byte> Backup => _backup;
    /// <summary>True when a backup key is set.</summary>
    public bool HasBackup => _backup is not null;

    /// <summary>A fresh primary key from the cryptographic generator, as Linux's tcp_fastopen_init_key_once draws one.</summary>
    public static FastOpenKey CreateRandom()
    {
        Span<byte> bytes = stackalloc byte[KeyLength];
        RandomNumberGenerator.Fill(bytes);
        return new FastOpenKey(bytes);
    }

    /// <summary>
    /// Reads Linux's spelling, <c>xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx</c> with an optional <c>,backup</c> of the same
    /// form (each word 1 to 8 hex digits, as sscanf's %x takes them). False for anything else.
    /// </summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out FastOpenKey? key)
    {
        key = null;
        if (string.IsNullOrWhiteSpace(text)) return false;
        string[] keys = text.Trim().Split(',');
        if (keys.Length > 2) return false;
        Span<byte> bytes = stackalloc byte[2 * KeyLength];
        for (int k = 0; k < keys.Length; k++)
        {
            string[] words = keys[k].Split('-');
            if (words.Length != 4) return false;
            for (int w = 0; w < 4; w++)
            {
                if (words[w].Length is 0 or > 8
                    || !uint.TryParse(words[w], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint word))
                {
                    return false;
                }
                BinaryPrimitives.WriteUInt32LittleEndian(bytes[(k * KeyLength + 4 * w)..], word);
            }
        }
        key = new FastOpenKey(bytes[..KeyLength], keys.Length == 2 ? bytes[KeyLength..] : default);
        return true;
    }

    /// <summary>Reads Linux's spelling; throws <see cref="FormatException"/> naming the form when it is not.</summary>
    public static FastOpenKey Parse(string text) =>
        TryParse(text, out FastOpenKey? key) ? key
            : throw new FormatException($"'{text}' is not a Fast Open key: xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx[,xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx] (hex)");

    /// <summary>Linux's spelling of the key (and its backup), as reading net.ipv4.tcp_fastopen_key shows it.</summary>
    public override string ToString() => HasBackup ? $"{Spell(_primary)},{Spell(_backup!)}" : Spell(_primary);

    private static string Spell(ReadOnlySpan<byte> key) => string.Create(CultureInfo.InvariantCulture,
        $"{BinaryPrimitives.ReadUInt32LittleEndian(key):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(key[4..]):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(key[8..]):x8}-{BinaryPrimitives.ReadUInt32LittleEndian(key[12..]):x8}");

    /// <inheritdoc/>
    public bool Equals(FastOpenKey? other) =>
        other is not null && Primary.SequenceEqual(other.Primary) && Backup.SequenceEqual(other.Backup) && HasBackup == other.HasBackup;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as FastOpenKey);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(BinaryPrimitives.ReadInt64LittleEndian(_primary), HasBackup);
}
