{{/*
The engine-build hook's wrapper and its build key.

The wrapper runs engineBuild.command (its arguments) into a fresh directory per build key and then switches the
repository path to it with one atomic rename of a symlink:

  <mountPath>/builds/<key>/repository   what the command writes (MODEL_REPOSITORY_PATH while it runs)
  <mountPath>/<modelRepository.path>    a relative symlink to the current build's repository

so a build never writes into the files live pods serve, an upgrade with the same key skips the build, and a
rollback re-links a kept earlier build.
*/}}

{{/* The inputs that decide what the build produces; change engineBuild.buildKey to force a rebuild (e.g. when the
checkpoint changed under the same command). */}}
{{- define "triton-llm.engineBuildKey" -}}
{{- $b := .Values.engineBuild -}}
{{- $inputs := dict "command" $b.command "image" (default (include "triton-llm.image" .) $b.image)
    "tensor" .Values.parallelism.tensor "pipeline" .Values.parallelism.pipeline "buildKey" $b.buildKey -}}
{{- toJson $inputs | sha256sum | trunc 16 -}}
{{- end -}}

{{- define "triton-llm.engineBuildScript" -}}
set -euo pipefail
live="${MODEL_REPOSITORY_PATH}"
builds="${MODEL_VOLUME}/builds"
build="${builds}/${BUILD_KEY}"
mkdir -p "${builds}"
if [ -e "${live}" ] && [ ! -L "${live}" ]; then
  # A repository copied in by hand, or built by an older chart straight into the served path: keep it.
  kept="${builds}/previous-$(date +%s)"
  echo "${live} is a directory, not a build link: moving it to ${kept}"
  mkdir -p "${kept}"
  mv "${live}" "${kept}/repository"
  touch "${kept}/.complete"
fi
if [ -f "${build}/.complete" ]; then
  echo "build ${BUILD_KEY} is complete: not rebuilding"
else
  rm -rf "${build}" "${build}.partial"
  mkdir -p "${build}.partial"
  echo "building ${BUILD_KEY} into ${build}"
  BUILD_DIR="${build}.partial" MODEL_REPOSITORY_PATH="${build}.partial/repository" "$@"
  touch "${build}.partial/.complete"
  mv "${build}.partial" "${build}"
fi
# Pods that start from now on see the new build; running ones keep the files they opened.
mkdir -p "$(dirname "${live}")"
ln -sfn "$(realpath -m --relative-to="$(dirname "${live}")" "${build}/repository")" "${live}.next"
mv -T "${live}.next" "${live}"
echo "${live} -> $(readlink "${live}")"
# The directory's time is when it was last served, so the prune below keeps the most recently served builds.
touch "${build}"
# Keep the current build and the KEEP_BUILDS - 1 most recently served others (rollback targets); drop the rest.
ls -1t "${builds}" | { grep -vx "${BUILD_KEY}" || true; } | tail -n "+${KEEP_BUILDS}" | while read -r old; do
  echo "removing old build ${old}"
  rm -rf "${builds:?}/${old}"
done
{{- end -}}
