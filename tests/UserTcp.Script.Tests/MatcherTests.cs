using UserTcp.Wire;

namespace UserTcp.Script.Tests;

public class MatcherTests
{
    private static PacketSpec Expect(string line) => ((PacketEvent)ScriptParser.Parse("0 " + line).Events.Single()).Packet;

    private static RelativeSegment Sent(TcpFlags flags, uint seq, int length, uint ack, ushort window, params OptionSpec[] options) =>
        new(flags, seq, length, ack, window, 0, options);

    private static readonly OptionSpec[] UserTcpSynOptions = [new MssOption(1460), new NopOption(), new WindowScaleOption(3)];

    [Fact]
    public void Identical_segment_has_no_differences()
    {
        PacketSpec expected = Expect("> S. 0:0(0) ack 1 win 65535 <mss 1460,nop,wscale 3>");
        Assert.Empty(PacketMatcher.Differences(expected, Sent(TcpFlags.Syn | TcpFlags.Ack, 0, 0, 1, 65535, UserTcpSynOptions), relaxed: false));
    }

    [Fact]
    public void Each_differing_field_is_named_with_actual_and_expected()
    {
        PacketSpec expected = Expect("> . 1:1(0) ack 101 win 500");
        List<string> differences = PacketMatcher.Differences(expected, Sent(TcpFlags.Fin | TcpFlags.Ack, 2, 10, 100, 400), relaxed: false);
        Assert.Equal(["flags F. instead of .", "seq 2 instead of 1", "10 payload bytes instead of 0", "ack 100 instead of 101", "win 400 instead of 500"], differences);
    }

    [Fact]
    public void A_window_the_line_leaves_out_is_not_compared_but_an_ack_left_out_means_zero_as_in_packetdrill()
    {
        // packetdrill's verify_tcp skips tcp_window only when the line writes no win (FLAG_WIN_NOCHECK); tcp_ack_seq is
        // compared always, with 0 when the line writes no ack.
        PacketSpec expected = Expect("> . 1:1(0)");
        Assert.Empty(PacketMatcher.Differences(expected, Sent(TcpFlags.Ack, 1, 0, 0, 777), relaxed: false));
        Assert.Equal(["ack 12345 instead of 0"], PacketMatcher.Differences(expected, Sent(TcpFlags.Ack, 1, 0, 12345, 777), relaxed: false));
        Assert.Empty(PacketMatcher.Differences(Expect("> R 1:1(0)"), Sent(TcpFlags.Rst, 1, 0, 0, 0), relaxed: false));
    }

    [Fact]
    public void Options_left_out_mean_none_as_in_packetdrill()
    {
        PacketSpec expected = Expect("> S 0:0(0)");
        List<string> differences = PacketMatcher.Differences(expected, Sent(TcpFlags.Syn, 0, 0, 0, 65535, UserTcpSynOptions), relaxed: false);
        Assert.Equal(["options <mss 1460,nop,wscale 3> instead of none"], differences);
    }

    [Fact]
    public void Wildcard_options_match_anything()
    {
        PacketSpec expected = Expect("> S 0:0(0) <...>");
        Assert.Empty(PacketMatcher.Differences(expected, Sent(TcpFlags.Syn, 0, 0, 0, 65535, UserTcpSynOptions), relaxed: false));
        Assert.Empty(PacketMatcher.Differences(expected, Sent(TcpFlags.Syn, 0, 0, 0, 65535), relaxed: false));
    }

    [Fact]
    public void Strict_options_compare_in_order_with_padding()
    {
        OptionSpec[] reordered = [new NopOption(), new WindowScaleOption(3), new MssOption(1460)];
        Assert.False(PacketMatcher.OptionsMatch(reordered, UserTcpSynOptions, relaxed: false));
        Assert.False(PacketMatcher.OptionsMatch([new MssOption(1460), new WindowScaleOption(3)], UserTcpSynOptions, relaxed: false));
        Assert.True(PacketMatcher.OptionsMatch(UserTcpSynOptions, UserTcpSynOptions, relaxed: false));
    }

    [Fact]
    public void Relaxed_options_compare_as_a_set()
    {
        // Linux's SYN-ACK layout with its window scale, against ours with another shift and another TSval.
        OptionSpec[] linux = [new MssOption(1460), new SackPermittedOption(), new TimestampOption(100, 700), new NopOption(), new WindowScaleOption(8)];
        OptionSpec[] ours = [new MssOption(1460), new SackPermittedOption(), new TimestampOption(5555, 700), new NopOption(), new WindowScaleOption(3)];
        Assert.True(PacketMatcher.OptionsMatch(linux, ours, relaxed: true));
        Assert.True(PacketMatcher.OptionsMatch([new NopOption(), new NopOption(), new TimestampOption(1, 2)], [new TimestampOption(9, 9)], relaxed: true));
        // Still compared: the MSS value, SACK blocks, and the presence of every option.
        Assert.False(PacketMatcher.OptionsMatch([new MssOption(1000), new WindowScaleOption(3)], UserTcpSynOptions, relaxed: true));
        Assert.False(PacketMatcher.OptionsMatch([new MssOption(1460)], UserTcpSynOptions, relaxed: true));
        Assert.False(PacketMatcher.OptionsMatch(linux, UserTcpSynOptions, relaxed: true));
        Assert.False(PacketMatcher.OptionsMatch([new SackOption([(1, 2)])], [new SackOption([(1, 3)])], relaxed: true));
    }

    [Fact]
    public void Outbound_ts_val_is_not_compared_and_ts_ecr_is()
    {
        PacketSpec expected = Expect("> . 1:1(0) ack 1 <nop,nop,TS val 100 ecr 700>");
        Assert.Empty(PacketMatcher.Differences(expected, Sent(TcpFlags.Ack, 1, 0, 1, 0, new NopOption(), new NopOption(), new TimestampOption(123456, 700)), relaxed: false));
        Assert.Equal(["options <nop,nop,TS val 123456 ecr 701> instead of <nop,nop,TS val 100 ecr 700>"],
            PacketMatcher.Differences(expected, Sent(TcpFlags.Ack, 1, 0, 1, 0, new NopOption(), new NopOption(), new TimestampOption(123456, 701)), relaxed: false));
    }

    [Fact]
    public void With_a_tick_the_ts_val_is_compared_from_the_first_one_on_as_packetdrill_does()
    {
        var timestamps = new TimestampMapping { TickMicros = 1000 };
        timestamps.Learn(100, 5000); // the first outbound TSval anchors script 100 to live 5000
        Assert.Equal(1100u, timestamps.ToScript(6000));
        PacketSpec expected = Expect("> . 1:1(0) <nop,nop,TS val 1100 ecr 0>");
        RelativeSegment OneSecondLater(uint live) => Sent(TcpFlags.Ack, 1, 0, 0, 0, new NopOption(), new NopOption(), new TimestampOption(timestamps.ToScript(live), 0));
        Assert.Empty(PacketMatcher.Differences(expected, OneSecondLater(6003), relaxed: false, timestamps, toleranceMicros: 4000));
        Assert.Single(PacketMatcher.Differences(expected, OneSecondLater(6010), relaxed: false, timestamps, toleranceMicros: 4000));
        // An inbound TSecr names an outbound TSval: the live value it was sent as; any other fails, as in packetdrill,
        // unless --tcp_ts_ecr_scaled shifts it by the anchor.
        Assert.Equal(5000u, timestamps.ToLiveEcr(100));
        Assert.Null(timestamps.ToLiveEcr(150));
        timestamps.EcrScaled = true;
        Assert.Equal(5050u, timestamps.ToLiveEcr(150));
        Assert.Null(new TimestampMapping { EcrScaled = true }.ToLiveEcr(150));
    }

    [Fact]
    public void Relaxed_mode_does_not_compare_the_window()
    {
        PacketSpec expected = Expect("> . 1:1(0) ack 1 win 257");
        RelativeSegment sent = Sent(TcpFlags.Ack, 1, 0, 1, 32768);
        Assert.Equal(["win 32768 instead of 257"], PacketMatcher.Differences(expected, sent, relaxed: false));
        Assert.Empty(PacketMatcher.Differences(expected, sent, relaxed: true));
        // Relaxed is not lax: the rest is still compared.
        Assert.Equal(["ack 2 instead of 1"], PacketMatcher.Differences(expected, Sent(TcpFlags.Ack, 1, 0, 2, 32768), relaxed: true));
    }

    [Fact]
    public void Wire_numbers_become_relative_across_the_wrap()
    {
        var captured = new CapturedSegment(Time: 5, SourcePort: 8080, DestinationPort: 40000, TcpFlags.Ack | TcpFlags.Psh,
            Seq: 0x0000_0010, Ack: 0x0000_0005, Window: 100, UrgentPointer: 0, Options: [new SackOption([(0x0000_0001u, 0x0000_0011u)])], PayloadLength: 10);
        RelativeSegment relative = RelativeSegment.From(captured, localBase: 0xFFFF_FFF0, remoteBase: 0xFFFF_FF00);
        Assert.Equal(0x20u, relative.Seq);
        Assert.Equal(0x105u, relative.Ack);
        Assert.Equal(new SackOption([(0x101u, 0x111u)]), relative.Options.Single());
    }

    [Fact]
    public void Ack_field_of_a_segment_without_the_ack_bit_stays_raw()
    {
        var captured = new CapturedSegment(0, 1, 2, TcpFlags.Rst, Seq: 100, Ack: 0, Window: 0, UrgentPointer: 0, Options: [], PayloadLength: 0);
        Assert.Equal(0u, RelativeSegment.From(captured, 0, 0xFFFF_0000).Ack);
    }

    [Fact]
    public void Actual_segment_is_shown_with_the_fields_the_expectation_states()
    {
        RelativeSegment sent = Sent(TcpFlags.Fin | TcpFlags.Ack, 1, 0, 101, 32768);
        Assert.Equal("> F. 1:1(0) ack 101", sent.Format(Expect("> . 1:1(0) ack 101")));
        Assert.Equal("> F. 1:1(0) ack 101 win 32768", sent.Format(Expect("> . 1:1(0) ack 101 win 5")));
        Assert.Equal("> F. 1:1(0) ack 101 win 32768", sent.Format());
        Assert.Equal("> S 0:0(0) win 65535 <mss 1460,nop,wscale 3>", Sent(TcpFlags.Syn, 0, 0, 0, 65535, UserTcpSynOptions).Format());
        Assert.Equal("> R 5:5(0) win 0", Sent(TcpFlags.Rst, 5, 0, 0, 0).Format());
    }

    [Fact]
    public void Captured_options_are_decoded_in_wire_order()
    {
        byte[] raw = [2, 4, 0x05, 0xB4, 1, 1, 4, 2, 1, 3, 3, 7, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 0];
        Assert.Equal<OptionSpec>(
            [new MssOption(1460), new NopOption(), new NopOption(), new SackPermittedOption(), new NopOption(), new WindowScaleOption(7), new TimestampOption(1, 2), new EolOption()],
            CapturedSegment.DecodeOptions(raw));
    }
}
