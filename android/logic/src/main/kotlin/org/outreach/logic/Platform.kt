package org.outreach.logic

import java.util.concurrent.Executor

/** Wall clock, injectable so tests and the sync policy do not read the system time directly. */
fun interface Clock {
    fun nowMs(): Long

    companion object {
        val SYSTEM: Clock = Clock { System.currentTimeMillis() }
    }
}

/**
 * Where store calls run. Every `OutreachStore` call blocks (SQLCipher, sync over HTTPS), so the
 * state holders never call the store on the caller's thread: they hand the work to [io] and
 * deliver the result on [main] (Android: a background executor + the main looper's executor;
 * tests: [Dispatcher.direct]).
 */
class Dispatcher(private val io: Executor, private val main: Executor) {
    fun <T> run(work: () -> T, done: (Result<T>) -> Unit) {
        io.execute {
            val result = runCatching(work)
            main.execute { done(result) }
        }
    }

    companion object {
        /** Runs work and delivery on the calling thread: for JVM tests only. */
        fun direct(): Dispatcher = Dispatcher({ it.run() }, { it.run() })
    }
}

/** A tiny observable value the Compose/SwiftUI layer collects; no Android/coroutines dependency. */
class Observable<T>(initial: T) {
    @Volatile
    var value: T = initial
        private set
    private val listeners = java.util.concurrent.CopyOnWriteArrayList<(T) -> Unit>()

    fun set(next: T) {
        value = next
        listeners.forEach { it(next) }
    }

    fun observe(listener: (T) -> Unit): AutoCloseable {
        listeners.add(listener)
        listener(value)
        return AutoCloseable { listeners.remove(listener) }
    }
}
