using UserTcp.Lab;
using UserTcp.Lab.Scenarios;
using UserTcp.Wire;

namespace UserTcp.Integration.Tests;

/// <summary>
/// fast-open's verdict on records made here (no root): five connections as Linux 6.18 makes them pass in either role; a
/// client that resends its data in the retransmitted SYN, one that drops Fast Open after two losses, and one that never
/// asked for a cookie each fail the expectation about that, and only those.
/// </summary>
public sealed class FastOpenJudgeTests
{
    private const ushort ServerPort = 5042;
    private static readonly byte[] Cookie = [0x13, 0x91, 0xb8, 0x26, 0x9a, 0x3a, 0x7f, 0x31];

    /// <summary>How the client behaves: Linux's way unless a test says otherwise.</summary>
    private sealed record Client(bool ResendDataInSyn = false, bool StopAfterTwoLosses = false, bool AskForCookie = true);

    private enum Kind { CookieRequest, FastOpen, SynDataLost }

    private static RecordBuilder Connection(bool kernelClient, int n, Kind kind, Client client, TimeSpan start)
    {
        ushort ephemeral = (ushort)(40000 + n);
        var b = kernelClient ? new RecordBuilder(ServerPort, ephemeral) : new RecordBuilder(ephemeral, ServerPort);
        void FromClient(TimeSpan at, uint seq, TcpFlags flags, uint? ack, int length = 0, bool dropped = false)
        {
            if (kernelClient) b.FromKernel(at, seq, flags, ack, length, dropped);
            else b.FromUserTcp(at, seq, flags, ack, length, dropped);
        }
        void FromServer(TimeSpan at, uint seq, TcpFlags flags, uint? ack, int length = 0)
        {
            if (kernelClient) b.FromUserTcp(at, seq, flags, ack, length);
            else b.FromKernel(at, seq, flags, ack, length);
        }
        TimeSpan at = start;
        bool plain = kind == Kind.FastOpen && client.StopAfterTwoLosses && n == FastOpen.Connections;
        uint requestEnd = 1 + (uint)FastOpen.RequestSize;
        if (kind == Kind.CookieRequest || plain)
        {
            FromClient(at, 0, TcpFlags.Syn, null);
            if (kind == Kind.CookieRequest && client.AskForCookie) b.LastFastOpen();
            FromServer(at + Ms(0.2), 0, TcpFlags.Syn | TcpFlags.Ack, 1);
            if (kind == Kind.CookieRequest && client.AskForCookie) b.LastFastOpen(Cookie);
            FromClient(at + Ms(0.4), 1, TcpFlags.Ack, 1);
            FromClient(at + Ms(1), 1, TcpFlags.Ack | TcpFlags.Psh, 1, FastOpen.RequestSize);
        }
        else if (kind == Kind.FastOpen)
        {
            FromClient(at, 0, TcpFlags.Syn, null, FastOpen.RequestSize);
            b.LastFastOpen(Cookie);
            FromServer(at + Ms(0.2), 0, TcpFlags.Syn | TcpFlags.Ack, requestEnd);
            FromClient(at + Ms(0.4), requestEnd, TcpFlags.Ack, 1);
        }
        else
        {
            FromClient(at, 0, TcpFlags.Syn, null, FastOpen.RequestSize, dropped: true);
            b.LastFastOpen(Cookie);
            at += TimeSpan.FromSeconds(1);
            FromClient(at, 0, TcpFlags.Syn, null, client.ResendDataInSyn ? FastOpen.RequestSize : 0);
            FromServer(at + Ms(0.2), 0, TcpFlags.Syn | TcpFlags.Ack, client.ResendDataInSyn ? requestEnd : 1);
            FromClient(at + Ms(0.4), client.ResendDataInSyn ? requestEnd : 1, TcpFlags.Ack, 1);
            if (!client.ResendDataInSyn) FromClient(at + Ms(0.5), 1, TcpFlags.Ack | TcpFlags.Psh, 1, FastOpen.RequestSize);
        }
        at += Ms(2);
        FromServer(at, 1, TcpFlags.Ack | TcpFlags.Psh, requestEnd, FastOpen.AnswerSize);
        LabSide server = kernelClient ? LabSide.UserTcp : LabSide.Kernel, clientSide = kernelClient ? LabSide.Kernel : LabSide.UserTcp;
        b.Mark(at, server, $"accept(), read() {FastOpen.RequestSize} bytes");
        b.Mark(at + Ms(1), clientSide, $"read {FastOpen.AnswerSize} bytes and the FIN, close()");
        return b;
    }

    private static LabVerdict Judge(bool kernelClient, Client client)
    {
        Kind[] kinds = [Kind.CookieRequest, Kind.FastOpen, Kind.SynDataLost, Kind.SynDataLost, Kind.FastOpen];
        RecordBuilder[] connections = [.. kinds.Select((kind, i) => Connection(kernelClient, i + 1, kind, client, TimeSpan.FromSeconds(3 * i)))];
        return LabCatalog.Find("fast-open")!.Judge(RecordBuilder.Build("fast-open", kernelClient ? LabRole.UserTcpPassive : LabRole.UserTcpActive, connections));
    }

    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    private static string[] Failed(LabVerdict v) => [.. v.Expectations.Where(e => !e.Passed).Select(e => e.What)];

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linux_behaviour_passes_in_either_role(bool kernelClient)
    {
        LabVerdict v = Judge(kernelClient, new Client());
        Assert.Empty(Failed(v));
        Assert.Contains("Two such losses in a row did not stop the client", v.Observed, StringComparison.Ordinal);
    }

    /// <summary>At cb00558 each of a lost connection's three expectations printed the whole opening, one long line three times.</summary>
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Each_expectation_of_a_lost_syn_says_its_own_finding(bool kernelClient)
    {
        LabVerdict v = Judge(kernelClient, new Client());
        string[] observed = [.. v.Expectations.Where(e => e.What.StartsWith("connection 3:", StringComparison.Ordinal)).Select(e => e.Observed)];

        Assert.Equal(3, observed.Length);
        Assert.Equal("SYN carried cookie 1391b8269a3a7f31 and 100 bytes (lost)", observed[0]);
        Assert.Equal("resent 1× with 0 bytes, no option", observed[1]);
        Assert.StartsWith("SYN-ACK acknowledged 0 bytes of data; the request (100 bytes) went after the handshake at 7.00", observed[2], StringComparison.Ordinal);
    }

    [Fact]
    public void A_retransmitted_syn_that_carries_the_data_fails_only_those_expectations()
    {
        string[] failed = Failed(Judge(kernelClient: true, new Client(ResendDataInSyn: true)));
        // Each lost connection: the resend carried the data, and so its SYN-ACK acknowledged it and no data followed.
        Assert.Equal(4, failed.Length);
        Assert.All(failed, f => Assert.Matches("^connection [34]: the (retransmitted SYN carries neither|SYN-ACK acknowledges only the SYN)", f));
    }

    [Fact]
    public void A_client_that_leaves_fast_open_off_after_two_losses_fails_the_fifth_connection_only()
    {
        LabVerdict v = Judge(kernelClient: false, new Client(StopAfterTwoLosses: true));
        Assert.Equal(["connection 5: two lost SYN-data in a row do not stop Fast Open either — the SYN carries the cookie and the request, and the SYN-ACK acknowledges it"], Failed(v));
        Assert.Contains("After two such losses in a row the client no longer used Fast Open", v.Observed, StringComparison.Ordinal);
    }

    [Fact]
    public void A_first_connection_without_a_cookie_request_fails_the_first_expectation_only()
    {
        string[] failed = Failed(Judge(kernelClient: true, new Client(AskForCookie: false)));
        Assert.Single(failed);
        Assert.StartsWith("connection 1:", failed[0], StringComparison.Ordinal);
    }
}
