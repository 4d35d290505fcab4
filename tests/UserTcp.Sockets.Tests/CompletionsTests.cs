using UserTcp.Sockets.Runtime;

namespace UserTcp.Sockets.Tests;

/// <summary>
/// <see cref="Completions.SignalPending"/>: every pending call is signalled exactly once, even when one signal throws (a
/// continuation run inline that fails), and the thread's list is left empty and usable.
/// </summary>
public sealed class CompletionsTests
{
    private sealed class Call(Action? onSignal = null) : IUserOperation
    {
        public int Signals { get; private set; }

        public void Signal()
        {
            Signals++;
            onSignal?.Invoke();
        }
    }

    [Fact]
    public void A_signal_that_throws_does_not_drop_the_calls_after_it_and_its_exception_reaches_the_caller()
    {
        var first = new Call();
        var failing = new Call(() => throw new InvalidOperationException("continuation failed"));
        var last = new Call();
        Completions.Pending.Add(new CompletedCall(first));
        Completions.Pending.Add(new CompletedCall(failing));
        Completions.Pending.Add(new CompletedCall(last));

        InvalidOperationException thrown = Assert.Throws<InvalidOperationException>(Completions.SignalPending);

        Assert.Equal("continuation failed", thrown.Message);
        Assert.Equal([1, 1, 1], new[] { first.Signals, failing.Signals, last.Signals });
        Assert.Empty(Completions.Pending);

        // Must not happen: a later pass on this thread signals nothing twice, and still signals (the flag was reset).
        var next = new Call();
        Completions.Pending.Add(new CompletedCall(next));
        Completions.SignalPending();
        Assert.Equal([1, 1, 1, 1], new[] { first.Signals, failing.Signals, last.Signals, next.Signals });
    }

    [Fact]
    public void Two_signals_that_throw_are_both_reported_and_every_call_is_signalled()
    {
        var a = new Call(() => throw new InvalidOperationException("a"));
        var b = new Call(() => throw new ArgumentException("b"));
        var c = new Call();
        Completions.Pending.Add(new CompletedCall(a));
        Completions.Pending.Add(new CompletedCall(b));
        Completions.Pending.Add(new CompletedCall(c));

        AggregateException thrown = Assert.Throws<AggregateException>(Completions.SignalPending);

        Assert.Equal(["a", "b"], thrown.InnerExceptions.Select(e => e.Message));
        Assert.Equal(1, c.Signals);
        Assert.Empty(Completions.Pending);
    }

    [Fact]
    public void A_call_a_signal_adds_is_signalled_by_the_same_loop_once()
    {
        var added = new Call();
        var adder = new Call(() =>
        {
            Completions.Pending.Add(new CompletedCall(added));
            Completions.SignalPending(); // nested: the outer loop reaches it
            Assert.Equal(0, added.Signals);
        });
        Completions.Pending.Add(new CompletedCall(adder));

        Completions.SignalPending();

        Assert.Equal(1, adder.Signals);
        Assert.Equal(1, added.Signals);
        Assert.Empty(Completions.Pending);
    }
}
