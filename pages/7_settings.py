"""Settings: every tunable of the metrics, saved to kam.toml, with a reset to the defaults."""

import pandas as pd
import streamlit as st

import ui
from kam_core.access import Action
from kam_core.appdata import settings_path
from kam_core.errors import KamError
from kam_core.settings import SETTINGS, TIER_PRESETS, reset_settings, save_settings, to_toml

ctx = ui.setup_page("Settings", "⚙️", "The numbers behind the numbers. Saved to kam.toml; "
                    "everything not changed stays at its default.")
current = ctx.settings
ui.presentation_toggle()
path = settings_path()
may_change = ui.permitted(Action.CHANGE_SETTINGS)  # else: which role changing them needs
CHOICES = {"tier_scheme": list(TIER_PRESETS), "date_order": ["dmy", "mdy"]}
GROUP_TITLES = {"portfolio": "Portfolio: tiers, quadrants, stability", "relationships": "Relationships",
                "health": "Growth and health", "general": "General", "loading": "Loading"}

criteria = pd.DataFrame()
if "criteria" in ui.loaded(ctx):
    criteria = ctx.con.execute("select criterion_id, name, axis, source, weight from criteria order by axis, criterion_id").df()

saved_note = st.session_state.pop("_settings_saved", None)
if saved_note:  # the run that saved ends in a rerun: the confirmation shows on this one
    st.success(saved_note, icon=":material/check_circle:")
    st.toast(saved_note, icon=":material/check_circle:")

values: dict = {}
with st.form("settings"):
    for group, title in GROUP_TITLES.items():
        st.subheader(title)
        if group == "portfolio":
            if not criteria.empty:
                st.markdown("**Criteria weights** (from criteria.csv; changes are saved as overrides)")
                shown = criteria.copy()
                overrides = current.criteria_weights
                shown["weight"] = [overrides.get(c, w) for c, w in zip(shown["criterion_id"], shown["weight"], strict=True)]
                edited = st.data_editor(shown, hide_index=True, disabled=["criterion_id", "name", "axis", "source"],
                                        column_config={"weight": st.column_config.NumberColumn(min_value=0.0, step=0.5)},
                                        key="weights_editor", width="stretch")
                base = dict(zip(criteria["criterion_id"], criteria["weight"], strict=True))
                values["criteria_weights"] = {c: float(w) for c, w in zip(edited["criterion_id"], edited["weight"], strict=True)
                                              if pd.notna(w) and float(w) != float(base[c])}
            tiers = pd.DataFrame(current.tier_list, columns=["tier", "threshold"])
            st.markdown("**Tiers** (from the top; an account gets the first tier whose threshold its attractiveness reaches)")
            edited_tiers = st.data_editor(tiers, num_rows="dynamic", hide_index=True, key="tiers_editor")
        cols = st.columns(3)
        i = 0
        for s in SETTINGS:
            if s.group != group or s.name in ("criteria_weights", "tiers"):
                continue
            value = getattr(current, s.name)
            col = cols[i % 3]
            i += 1
            key = f"set_{s.name}"
            if s.name in CHOICES:
                values[s.name] = col.selectbox(s.name, CHOICES[s.name], index=CHOICES[s.name].index(value), help=s.help, key=key)
            elif s.name == "as_of":
                auto = col.checkbox("as_of: automatic (latest date in the data)", value=value is None, help=s.help, key=key + "_auto")
                picked = col.date_input("as_of", value=value or ctx.as_of, key=key, disabled=auto)
                values[s.name] = None if auto else picked
            elif isinstance(value, dict):
                with col.expander(s.name):
                    st.caption(s.help)
                    values[s.name] = {k: st.number_input(k, value=float(v), key=f"{key}_{k}") for k, v in value.items()}
            elif isinstance(value, bool) or isinstance(value, str):
                values[s.name] = col.text_input(s.name, value=str(value), help=s.help, key=key)
            elif isinstance(value, int):
                values[s.name] = int(col.number_input(s.name, value=value, step=1, help=s.help, key=key))
            else:
                values[s.name] = col.number_input(s.name, value=float(value), help=s.help, key=key, format="%.4g")
    saved = st.form_submit_button("Save to kam.toml", type="primary", icon=":material/save:", disabled=not may_change)

if saved:
    tier_rows = [[str(r.tier).strip(), float(r.threshold)] for r in edited_tiers.itertuples()
                 if isinstance(r.tier, str) and r.tier.strip() and pd.notna(r.threshold)]
    presets = [[[n, float(t)] for n, t in tiers] for tiers in TIER_PRESETS.values()]
    # a table equal to a preset means "use the preset chosen above"; anything else is custom
    values["tiers"] = None if tier_rows in presets else tier_rows
    try:
        new = save_settings(path, values, ui.current_actor())  # checks the role; keeps the sign-in roles
    except KamError as exc:
        ui.show_error(exc)
    else:
        st.session_state.pop("_settings_overrides", None)
        st.cache_data.clear()
        st.session_state["_settings_saved"] = (f"Saved: {len(new.changed())} setting(s) differ from the defaults, "
                                               f"in {ui.md(path.name)}.")
        st.rerun()



@st.dialog("Reset every setting to its default?", on_dismiss=lambda: st.session_state.pop("_confirm_reset", None))
def confirm_reset() -> None:
    st.markdown(f"{len(current.changed())} setting(s) differ from the defaults now; {ui.md(path.name)} is "
                "reset and every user sees the defaults (the sign-in roles are kept).")
    d1, d2 = st.columns(2)
    if d1.button("Reset", type="primary", icon=":material/restart_alt:", key="reset_confirm"):
        st.session_state.pop("_confirm_reset", None)
        try:
            reset_settings(path, ui.current_actor())  # checks the role; keeps the sign-in roles
        except KamError as exc:
            ui.show_error(exc)
            return
        st.session_state.pop("_settings_overrides", None)
        st.session_state["_settings_saved"] = "Reset: every setting is at its default."
        st.cache_data.clear()
        st.rerun()
    if d2.button("Cancel", key="reset_cancel"):
        st.session_state.pop("_confirm_reset", None)
        st.rerun()


c1, c2 = st.columns([1, 3])
if c1.button("Reset to defaults", icon=":material/restart_alt:", key="reset", disabled=not may_change):
    st.session_state["_confirm_reset"] = True
if st.session_state.get("_confirm_reset"):
    confirm_reset()
c2.caption(f"In force: {len(current.changed())} setting(s) differ from the defaults.")
with st.expander("kam.toml as it would be saved now"):
    st.code(to_toml(current), language="toml")
