set -x
export GIMP3_DIRECTORY=/tmp/g3 XDG_CACHE_HOME=/tmp/xc XDG_CONFIG_HOME=/tmp/xcfg
mkdir -p $GIMP3_DIRECTORY
time gimp-console-3.0 -i --no-data --no-fonts --stack-trace-mode=never --batch-interpreter=plug-in-script-fu-eval -b '(gimp-message "hello")' --quit; echo rc=$?
time gimp-console-3.0 -i --no-data --no-fonts --stack-trace-mode=never --batch-interpreter=plug-in-script-fu-eval -b '(gimp-message "hello")' --quit; echo rc=$?
time gimp-console-3.0 -i --no-data --no-fonts --stack-trace-mode=never --batch-interpreter=plug-in-script-fu-eval -b '(no-such-proc 1)' --quit; echo rc=$?
time gimp-console-3.0 -i --no-data --no-fonts --stack-trace-mode=never --batch-interpreter=plug-in-script-fu-eval -b '(no-such-proc 1)' -b '(gimp-quit 0)'; echo rc=$?
ls $GIMP3_DIRECTORY
