#!/bin/sh
# Install this SDHD Studio build for the current user: the app folder goes to
# ~/.local/lib/sdhd-studio, `sdhd` and `sdhd-studio` to ~/.local/bin, the menu entry, icons,
# AppStream metainfo and the .sdhd project type to ~/.local/share. Run it from the build folder
# (or pass the build folder); `--uninstall` removes what it installed.
set -eu
APP_ID=io.github.sdhd_studio.SDHDStudio
HERE=$(cd "$(dirname "$0")" && pwd)
BUILD=${1:-$HERE}
[ "$BUILD" = --uninstall ] && BUILD=$HERE
DATA=${XDG_DATA_HOME:-$HOME/.local/share}
PREFIX_LIB=$HOME/.local/lib/sdhd-studio
BIN=$HOME/.local/bin

refresh() {
    # Menus, file managers and icon themes read caches; refresh them where the tools exist.
    command -v update-desktop-database >/dev/null && update-desktop-database -q "$DATA/applications" || true
    command -v update-mime-database >/dev/null && update-mime-database "$DATA/mime" || true
    command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$DATA/icons/hicolor" || true
}

if [ "${1:-}" = --uninstall ]; then
    rm -rf "$PREFIX_LIB"
    rm -f "$BIN/sdhd" "$BIN/sdhd-studio" "$DATA/applications/$APP_ID.desktop" \
        "$DATA/metainfo/$APP_ID.metainfo.xml" "$DATA/mime/packages/$APP_ID.xml" \
        "$DATA/icons/hicolor/scalable/apps/$APP_ID.svg" "$DATA"/icons/hicolor/*/apps/"$APP_ID".png
    refresh
    echo "SDHD Studio removed"
    exit 0
fi

[ -x "$BUILD/sdhd-studio" ] || { echo "install-linux.sh: no sdhd-studio in $BUILD" >&2; exit 2; }
mkdir -p "$PREFIX_LIB" "$BIN" "$DATA"
rm -rf "$PREFIX_LIB.new"
cp -a "$BUILD" "$PREFIX_LIB.new"
rm -rf "$PREFIX_LIB"
mv "$PREFIX_LIB.new" "$PREFIX_LIB"
ln -sf "$PREFIX_LIB/sdhd" "$BIN/sdhd"
ln -sf "$PREFIX_LIB/sdhd-studio" "$BIN/sdhd-studio"
cp -R "$BUILD/share/." "$DATA/"
# The session's PATH may lack ~/.local/bin: the menu entry names the executable by full path.
sed -i "s|^Exec=sdhd-studio|Exec=$PREFIX_LIB/sdhd-studio|; s|^TryExec=sdhd-studio|TryExec=$PREFIX_LIB/sdhd-studio|" \
    "$DATA/applications/$APP_ID.desktop"
refresh
echo "SDHD Studio installed: $PREFIX_LIB (menu entry $DATA/applications/$APP_ID.desktop)"
