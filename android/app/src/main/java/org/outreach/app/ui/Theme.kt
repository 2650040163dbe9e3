package org.outreach.app.ui

import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.Typography
import androidx.compose.material3.darkColorScheme
import androidx.compose.runtime.Composable
import androidx.compose.runtime.DisposableEffect
import androidx.compose.runtime.State
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.ui.graphics.Color
import androidx.compose.ui.unit.dp
import androidx.compose.ui.unit.sp
import org.outreach.logic.Observable

/** Night theme: true black (OLED, no glare in a dark van), warm high-contrast accents. */
private val Night = darkColorScheme(
    primary = Color(0xFFFFB74D),
    onPrimary = Color.Black,
    secondary = Color(0xFF80CBC4),
    onSecondary = Color.Black,
    background = Color.Black,
    onBackground = Color(0xFFEDE7DD),
    surface = Color(0xFF121212),
    onSurface = Color(0xFFEDE7DD),
    error = Color(0xFFFF8A80),
    onError = Color.Black,
)

/** Minimum touch target: bigger than Material's 48 dp, for gloves and moving vans. */
val Target = 64.dp

@Composable
fun OutreachTheme(content: @Composable () -> Unit) {
    val base = Typography()
    MaterialTheme(
        colorScheme = Night,
        typography = base.copy(
            bodyLarge = base.bodyLarge.copy(fontSize = 20.sp),
            labelLarge = base.labelLarge.copy(fontSize = 20.sp),
            titleLarge = base.titleLarge.copy(fontSize = 26.sp),
        ),
        content = content,
    )
}

/** Collects a logic-module [Observable] as Compose state. */
@Composable
fun <T> Observable<T>.collect(): State<T> {
    val state = remember(this) { mutableStateOf(value) }
    DisposableEffect(this) {
        val handle = observe { state.value = it }
        onDispose { handle.close() }
    }
    return state
}
