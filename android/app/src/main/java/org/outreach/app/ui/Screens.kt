package org.outreach.app.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.ExperimentalLayoutApi
import androidx.compose.foundation.layout.FlowRow
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.Spacer
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.heightIn
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.layout.sizeIn
import androidx.compose.foundation.layout.width
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ButtonDefaults
import androidx.compose.material3.FilterChip
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.NavigationBar
import androidx.compose.material3.NavigationBarItem
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.compose.ui.unit.dp
import org.outreach.app.Holders
import org.outreach.app.SyncScheduling
import org.outreach.logic.AlertCheckState
import org.outreach.logic.Credential
import org.outreach.logic.SyncTrigger
import org.outreach.logic.UnlockState
import uniffi.outreach_ffi.IdentifierKind

// Screens only render holder state and forward events. No rule lives here: what is valid, what
// a shift allows, whether an alert matches and when to sync are decided in android/logic or the
// core.

private enum class Tab(val label: String) { LOG("Log"), SHIFT("Shift"), PEOPLE("People"), ALERT("Alert"), INCIDENT("Incident"), SYNC("Sync") }

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun OutreachRoot(holders: Holders, onBiometric: () -> Unit, onQuickExit: () -> Unit) = OutreachTheme {
    val unlock by holders.unlock.state.collect()
    Scaffold(
        containerColor = MaterialTheme.colorScheme.background,
        topBar = {
            TopAppBar(
                title = { Text("Van log") },
                actions = {
                    // Quick exit: always visible, one tap, big, red-ish.
                    Button(
                        onClick = onQuickExit,
                        modifier = Modifier.sizeIn(minWidth = Target, minHeight = Target).padding(4.dp),
                        colors = ButtonDefaults.buttonColors(containerColor = MaterialTheme.colorScheme.error),
                    ) { Text("EXIT") }
                },
            )
        },
    ) { pad ->
        Column(Modifier.padding(pad).fillMaxSize()) {
            when (val s = unlock) {
                is UnlockState.Locked -> UnlockScreen(s.message, unlocking = false, onPin = { holders.unlock.unlock(Credential.Pin(it)) }, onBiometric = onBiometric)
                UnlockState.Unlocking -> UnlockScreen(null, unlocking = true, onPin = {}, onBiometric = {})
                is UnlockState.Unlocked -> Unlocked(holders)
            }
        }
    }
}

@Composable
private fun UnlockScreen(message: String?, unlocking: Boolean, onPin: (CharArray) -> Unit, onBiometric: () -> Unit) {
    var pin by remember { mutableStateOf("") }
    Column(Modifier.padding(24.dp).fillMaxWidth(), verticalArrangement = Arrangement.spacedBy(16.dp)) {
        Text("Locked", style = MaterialTheme.typography.titleLarge)
        OutlinedTextField(
            value = pin,
            onValueChange = { pin = it.filter(Char::isDigit).take(12) },
            label = { Text("PIN") },
            visualTransformation = PasswordVisualTransformation(),
            keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
            singleLine = true,
            modifier = Modifier.fillMaxWidth(),
        )
        message?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        BigButton(if (unlocking) "Unlocking…" else "Unlock", enabled = !unlocking && pin.isNotEmpty()) {
            onPin(pin.toCharArray()); pin = ""
        }
        OutlinedBigButton("Fingerprint", enabled = !unlocking, onClick = onBiometric)
    }
}

@Composable
private fun Unlocked(holders: Holders) {
    var tab by rememberSaveable { mutableStateOf(Tab.LOG) }
    Column(Modifier.fillMaxSize()) {
        Column(Modifier.weight(1f)) {
            when (tab) {
                Tab.LOG -> QuickLogScreen(holders)
                Tab.SHIFT -> ShiftScreen(holders)
                Tab.PEOPLE -> PersonScreen(holders) { id, label -> holders.quickLog.pickPerson(id, label); tab = Tab.LOG }
                Tab.ALERT -> AlertScreen(holders)
                Tab.INCIDENT -> IncidentScreen(holders)
                Tab.SYNC -> SyncScreen(holders)
            }
        }
        NavigationBar {
            Tab.entries.forEach { t ->
                NavigationBarItem(selected = t == tab, onClick = { tab = t }, icon = {}, label = { Text(t.label) })
            }
        }
    }
}

@OptIn(ExperimentalLayoutApi::class)
@Composable
private fun Chips(options: List<String>, selected: String?, error: String?, onPick: (String) -> Unit) {
    FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
        options.forEach { o ->
            FilterChip(selected = o == selected, onClick = { onPick(o) }, label = { Text(o) }, modifier = Modifier.heightIn(min = Target))
        }
    }
    error?.let { Text(it, color = MaterialTheme.colorScheme.error) }
}

@Composable
private fun QuickLogScreen(holders: Holders) {
    val log = holders.quickLog
    val s by log.state.collect()
    val context = LocalContext.current
    remember { log.load(); true }
    Column(Modifier.padding(12.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        Text("Zone"); Chips(s.zones, s.zone, s.fieldErrors["encounter.zone"], log::pickZone)
        Text("Setting"); Chips(s.settings, s.setting, s.fieldErrors["encounter.setting"], log::pickSetting)
        Text("Contact"); Chips(s.contactTypes, s.contactType, s.fieldErrors["encounter.contact_type"], log::pickContactType)
        Text("Services")
        s.services.forEach { service ->
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                OutlinedButton(onClick = { log.decrement(service) }, modifier = Modifier.sizeIn(minWidth = Target, minHeight = Target)) { Text("−") }
                Text("${s.counts[service] ?: 0}", modifier = Modifier.width(40.dp).padding(top = 18.dp))
                Button(onClick = { log.increment(service) }, modifier = Modifier.sizeIn(minWidth = Target, minHeight = Target)) { Text("+") }
                Text(service, modifier = Modifier.padding(top = 18.dp))
            }
        }
        s.fieldErrors["encounter.services"]?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        Text("Person: ${s.personLabel ?: "not recorded"} (pick in People)")
        OutlinedTextField(value = s.note, onValueChange = log::setNote, label = { Text("Note (optional)") }, modifier = Modifier.fillMaxWidth())
        s.message?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        BigButton(if (s.busy) "Saving…" else "Log contact", enabled = !s.busy) {
            log.submit()
            SyncScheduling.syncSoon(context)
        }
        Text("Tonight: ${s.night.size} contacts", style = MaterialTheme.typography.titleLarge)
        s.night.asReversed().forEach { e ->
            Text("${e.input.zone} · ${e.input.setting} · ${e.input.contactType} · ${e.input.services.sumOf { it.count.toInt() }} items")
        }
    }
}

@Composable
private fun ShiftScreen(holders: Holders) {
    val shift = holders.shift
    val s by shift.state.collect()
    var van by rememberSaveable { mutableStateOf("") }
    var crew by rememberSaveable { mutableStateOf("") }
    var zones by remember { mutableStateOf(setOf<String>()) }
    remember { shift.refresh(); true }
    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        val current = s.current
        if (current != null) {
            Text("On shift: ${current.van} · ${current.zones.joinToString()}", style = MaterialTheme.typography.titleLarge)
            BigButton("End shift", enabled = !s.busy) { shift.end() }
        } else {
            OutlinedTextField(van, { van = it }, label = { Text("Van") }, modifier = Modifier.fillMaxWidth())
            OutlinedTextField(crew, { crew = it }, label = { Text("Crew (handles, comma-separated)") }, modifier = Modifier.fillMaxWidth())
            Text("Zones")
            @OptIn(ExperimentalLayoutApi::class)
            FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                s.teamZones.forEach { z ->
                    FilterChip(selected = z in zones, onClick = { zones = if (z in zones) zones - z else zones + z }, label = { Text(z) }, modifier = Modifier.heightIn(min = Target))
                }
            }
            BigButton("Start shift", enabled = !s.busy) {
                shift.start(van, crew.split(',').map(String::trim).filter(String::isNotEmpty), zones.toList())
            }
        }
        s.message?.let { Text(it, color = MaterialTheme.colorScheme.error) }
    }
}

@Composable
private fun PersonScreen(holders: Holders, onPick: (String, String) -> Unit) {
    val people = holders.people
    val s by people.state.collect()
    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        OutlinedTextField(s.query, people::search, label = { Text("Street / code name") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        s.message?.let { Text(it) }
        LazyColumn(verticalArrangement = Arrangement.spacedBy(6.dp)) {
            items(s.matches, key = { it.id }) { m ->
                OutlinedBigButton("${m.codeName} · ${m.ageBand}") { onPick(m.merged_into_or_id(), m.codeName) }
            }
        }
    }
}

private fun uniffi.outreach_ffi.PersonMatchRecord.merged_into_or_id() = mergedInto ?: id

@Composable
private fun AlertScreen(holders: Holders) {
    val alerts = holders.alerts
    val s by alerts.state.collect()
    var value by remember { mutableStateOf("") }
    var kind by remember { mutableStateOf(IdentifierKind.PLATE) }
    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        @OptIn(ExperimentalLayoutApi::class)
        FlowRow(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
            IdentifierKind.entries.forEach { k ->
                FilterChip(selected = k == kind, onClick = { kind = k }, label = { Text(k.name.lowercase()) }, modifier = Modifier.heightIn(min = Target))
            }
        }
        OutlinedTextField(value, { value = it }, label = { Text("Plate, phone, email or username") }, singleLine = true, modifier = Modifier.fillMaxWidth())
        BigButton("Check", enabled = value.isNotBlank()) { alerts.check(kind, value) }
        when (val r = s) {
            is AlertCheckState.Match -> r.matches.forEach {
                Text("WARNING (${it.risk}): ${it.description}${it.area?.let { a -> " · $a" } ?: ""}", color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.titleLarge)
            }
            AlertCheckState.NoMatch -> Text("No alert on this phone for that.")
            is AlertCheckState.Error -> Text(r.message, color = MaterialTheme.colorScheme.error)
            AlertCheckState.Checking -> LinearProgressIndicator(Modifier.fillMaxWidth())
            AlertCheckState.Idle -> Unit
        }
    }
}

@Composable
private fun IncidentScreen(holders: Holders) {
    val inc = holders.incident
    val s by inc.state.collect()
    Column(Modifier.padding(12.dp).verticalScroll(rememberScrollState()), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        OutlinedTextField(s.form.kind, { v -> inc.edit { copy(kind = v) } }, label = { Text("What happened (type)") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(s.form.place, { v -> inc.edit { copy(place = v) } }, label = { Text("Where") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(s.form.injuries, { v -> inc.edit { copy(injuries = v) } }, label = { Text("Injuries (optional)") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(s.form.sharePolice, { v -> inc.edit { copy(sharePolice = v) } }, label = { Text("Share with police") }, modifier = Modifier.fillMaxWidth())
        OutlinedTextField(s.form.shareNational, { v -> inc.edit { copy(shareNational = v) } }, label = { Text("Share with national scheme") }, modifier = Modifier.fillMaxWidth())
        s.fieldErrors.values.forEach { Text(it, color = MaterialTheme.colorScheme.error) }
        s.message?.let { Text(it, color = MaterialTheme.colorScheme.error) }
        s.saved?.let { Text("Saved.") }
        BigButton("Save incident") { inc.submit() }
    }
}

@Composable
private fun SyncScreen(holders: Holders) {
    val sync = holders.sync
    val s by sync.state.collect()
    val context = LocalContext.current
    remember { sync.refreshStatus(); true }
    Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(10.dp)) {
        val st = s.status
        Text(if (st?.registered == true) "Waiting to send: ${st.outbox}" else "Not connected to a hub yet", style = MaterialTheme.typography.titleLarge)
        st?.lastSuccessMs?.let { Text("Last synced: ${java.time.Instant.ofEpochMilli(it)}") }
        st?.lastError?.let { Text("Last problem: $it") }
        s.progress?.let { p ->
            val total = p.chunksTotal?.toFloat()
            if (total != null && total > 0) LinearProgressIndicator(progress = { p.chunksDone.toFloat() / total }, modifier = Modifier.fillMaxWidth())
            else LinearProgressIndicator(Modifier.fillMaxWidth())
        }
        s.message?.let { Text(it) }
        if (s.running) OutlinedBigButton("Cancel") { sync.cancel() }
        else BigButton("Sync now") {
            // The shell reads connectivity; the policy decides.
            val cm = context.getSystemService(android.net.ConnectivityManager::class.java)
            val caps = cm.getNetworkCapabilities(cm.activeNetwork)
            val metered = caps?.hasCapability(android.net.NetworkCapabilities.NET_CAPABILITY_NOT_METERED) != true
            sync.maybeSync(SyncTrigger.USER_REQUESTED, connected = caps != null, metered = metered)
        }
        Spacer(Modifier.heightIn(min = 8.dp))
        DuressPinCard(holders)
    }
}

/** Duress PIN: typed at the unlock screen it wipes this phone's store and key (logic: UnlockController). */
@Composable
private fun DuressPinCard(holders: Holders) {
    var pin by remember { mutableStateOf("") }
    var note by remember { mutableStateOf<String?>(null) }
    Text("Duress PIN", style = MaterialTheme.typography.titleMedium)
    Text("Typed at the unlock screen instead of your PIN, it wipes this phone's data. Unsynced records are lost.")
    OutlinedTextField(
        value = pin,
        onValueChange = { pin = it.filter(Char::isDigit).take(12) },
        label = { Text("Duress PIN") },
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.NumberPassword),
        singleLine = true,
        modifier = Modifier.fillMaxWidth(),
    )
    note?.let { Text(it) }
    OutlinedBigButton("Set duress PIN", enabled = pin.isNotEmpty()) {
        holders.unlock.setDuressPin(pin.toCharArray()) { note = it ?: "Duress PIN set." }
        pin = ""
    }
    OutlinedBigButton("Remove duress PIN") { holders.unlock.clearDuressPin { note = it ?: "Duress PIN removed." } }
}

@Composable
private fun BigButton(text: String, enabled: Boolean = true, onClick: () -> Unit) =
    Button(onClick = onClick, enabled = enabled, modifier = Modifier.fillMaxWidth().heightIn(min = Target)) { Text(text) }

@Composable
private fun OutlinedBigButton(text: String, enabled: Boolean = true, onClick: () -> Unit) =
    OutlinedButton(onClick = onClick, enabled = enabled, modifier = Modifier.fillMaxWidth().heightIn(min = Target)) { Text(text) }
